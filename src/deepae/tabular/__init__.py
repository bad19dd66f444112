"""Tables as users have them: numeric, boolean, categorical and missing cells.

:class:`TableEncoder` turns a table (a pandas DataFrame, a 2-D object array, or any table
with the DataFrame interchange protocol) into the numbers a network reads and back;
:mod:`.loss` holds the reconstruction loss per column type (squared error for numbers,
softmax cross-entropy over a category's levels, nothing for a missing cell). pandas is
needed only for tables (the ``tables`` extra).
"""

from .encoder import TableEncoder
from .frames import is_table

__all__ = ["TableEncoder", "is_table"]
