"""Tables, figures and the HTML pages of the reports (the demo's and :func:`deepae.report`'s).

Figures are drawn on :class:`matplotlib.figure.Figure` objects, which need no GUI backend,
and saved as PNG files; the page ``index.html`` refers to them by relative paths (the demo:
a self-contained folder) or holds them inline as ``data:`` URIs (one self-contained file).
No network, no scripts, no external style sheets. matplotlib is imported inside the drawing
functions, so ``import deepae`` stays light.
"""

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

IMAGE_SHAPE = (8, 8)  # scikit-learn's bundled digits
DPI = 100


@dataclass
class Table:
    """A titled table of strings (numbers already formatted)."""

    title: str
    header: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    """One part of the report: a heading, a sentence or two, tables and pictures."""

    title: str
    text: str
    tables: list[Table] = field(default_factory=list)
    images: list[tuple[str, str]] = field(default_factory=list)  # (file name, caption)


def format_table(table: Table) -> str:
    """The table as aligned plain text: title, header, rule, rows."""
    widths = [max(len(row[i]) for row in [table.header, *table.rows])
              for i in range(len(table.header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([table.title, line(table.header), rule, *map(line, table.rows)])


def render_table(table: Table) -> str:
    """The table as an HTML ``<table>`` with a caption."""
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in table.header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>\n"
        for row in table.rows
    )
    return (f"<table>\n<caption>{html.escape(table.title)}</caption>\n"
            f"<tr>{head}</tr>\n{body}</table>\n")


STYLE = """
body { font-family: sans-serif; max-width: 64em; margin: 2em auto; padding: 0 1em;
       line-height: 1.4; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
caption { text-align: left; font-weight: bold; padding-bottom: 0.3em; }
th, td { border: 1px solid #bbb; padding: 0.2em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; vertical-align: top; }
figcaption { font-size: 0.9em; color: #555; max-width: 40em; }
img { max-width: 100%; }
"""


def write_page(path: Path, title: str, intro: str, sections: list[Section],
               images: Path | None = None) -> None:
    """Write the report's HTML page (inline style): images by relative path, or read from the
    folder ``images`` and embedded in the page."""
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        f"<h1>{html.escape(title)}</h1>\n<p>{html.escape(intro)}</p>\n",
    ]
    for number, section in enumerate(sections, 1):
        parts.append(f"<h2>{number}. {html.escape(section.title)}</h2>\n"
                     f"<p>{html.escape(section.text)}</p>\n")
        parts.extend(render_table(table) for table in section.tables)
        for name, caption in section.images:
            source = name if images is None else "data:image/png;base64," + (
                base64.b64encode((images / name).read_bytes()).decode("ascii"))
            parts.append(
                f"<figure><img src=\"{html.escape(source)}\" alt=\"{html.escape(caption)}\">"
                f"<figcaption>{html.escape(caption)}</figcaption></figure>\n"
            )
    parts.append("</body>\n</html>\n")
    path.write_text("".join(parts), encoding="utf-8")


def check_matplotlib(what: str = "the demo's report") -> None:
    """Fail early, with the way out, when matplotlib (the ``plot`` extra) is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(f"{what} needs matplotlib: pip install 'deepae[plot]'") from None


def new_figure(width: float, height: float):
    """A matplotlib figure that needs no GUI backend."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def tile(images: np.ndarray, gap: int, shape: tuple[int, int] = IMAGE_SHAPE) -> np.ndarray:
    """One mosaic of the images (of ``shape``, 8×8 by default) of an ``(n_rows, n_cols,
    height · width)`` array, NaN between them."""
    n_rows, n_cols = images.shape[:2]
    height, width = shape
    mosaic = np.full((n_rows * (height + gap), n_cols * (width + gap)), np.nan)
    for (r, c), _ in np.ndenumerate(images[:, :, 0]):
        top, left = r * (height + gap) + gap, c * (width + gap) + gap // 2
        mosaic[top : top + height, left : left + width] = images[r, c].reshape(shape)
    return mosaic


def save_image_grid(
    path: Path,
    images: np.ndarray,
    titles: list[str] | None = None,
    row_labels: list[str] | None = None,
    signed: bool = False,
    ncols: int | None = None,
    shape: tuple[int, int] = IMAGE_SHAPE,
) -> None:
    """Draw images of ``shape`` (8×8 by default) in a grid and save it as a PNG.

    ``images`` has shape ``(n_rows, n_cols, pixels)``, or ``(n, pixels)`` laid out ``ncols``
    to a row. Pixel intensities in ``[0, 1]`` are drawn dark on light; ``signed`` images (weights)
    are scaled each to its own largest magnitude, red for positive and blue for negative.
    ``titles`` (one per image, row by row) go above the images, ``row_labels`` on the left.
    """
    import matplotlib

    images = np.asarray(images, dtype=float)
    if images.ndim == 2:
        ncols = ncols or len(images)
        padded = np.full((-(-len(images) // ncols) * ncols, images.shape[1]), np.nan)
        padded[: len(images)] = images
        images = padded.reshape(-1, ncols, images.shape[1])
    if signed:
        limits = np.nanmax(np.abs(images), axis=2, keepdims=True)
        images = images / np.where(limits > 0, limits, 1.0)
    gap = 4 if titles else 1
    mosaic = tile(images, gap, shape)
    colormap = matplotlib.colormaps["RdBu_r" if signed else "gray_r"].with_extremes(bad="white")
    scale = min(0.09, 9.0 / mosaic.shape[1])  # inches per pixel, at most 9 inches wide
    label_width = 1.2 if row_labels else 0.0
    figure = new_figure(label_width + scale * mosaic.shape[1] + 0.2,
                        scale * mosaic.shape[0] + 0.2)
    ax = figure.subplots()
    ax.imshow(mosaic, cmap=colormap, vmin=-1.0 if signed else 0.0, vmax=1.0,
              interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    height, width = shape
    if row_labels:
        ax.set_yticks([r * (height + gap) + gap + height / 2 - 0.5
                       for r in range(len(row_labels))], row_labels)
        ax.tick_params(left=False)
    for index, title in enumerate(titles or []):
        r, c = divmod(index, images.shape[1])
        ax.text(c * (width + gap) + gap // 2 + width / 2 - 0.5, r * (height + gap) + gap - 0.8,
                title, ha="center", va="bottom", fontsize=8)
    figure.savefig(path, bbox_inches="tight", pad_inches=0.05)


def save_learning_curves(path: Path, histories: dict[str, list[dict]]) -> None:
    """One panel per model: training and validation loss per epoch."""
    figure = new_figure(3.6 * len(histories), 3.0)
    axes = figure.subplots(1, len(histories), squeeze=False)[0]
    for ax, (name, history) in zip(axes, histories.items(), strict=True):
        epochs = [entry["epoch"] for entry in history]
        ax.plot(epochs, [entry["train_loss"] for entry in history], label="training")
        valid = [entry["valid_loss"] for entry in history]
        if any(value is not None for value in valid):
            ax.plot(epochs, valid, label="validation")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.legend(fontsize=8)
    figure.savefig(path, bbox_inches="tight", pad_inches=0.05)


def save_error_curves(path: Path, curves: dict[str, dict[str, np.ndarray]]) -> None:
    """Mean reconstruction error against the number of components k = 1, 2, …: one color
    per model, solid for the training data and dashed for the test data."""
    figure = new_figure(5.5, 3.6)
    ax = figure.subplots()
    for color, (model, parts) in enumerate(curves.items()):
        for part, errors in parts.items():
            ax.plot(np.arange(1, len(errors) + 1), errors, color=f"C{color}",
                    linestyle="--" if part == "test" else "-", label=f"{model}, {part}")
    ax.set_ylim(bottom=0.0)
    ax.set_xlabel("number of components k")
    ax.set_ylabel("mean squared reconstruction error")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    figure.savefig(path, bbox_inches="tight", pad_inches=0.05)


def save_codes(path: Path, codes: dict[str, np.ndarray], labels: np.ndarray) -> None:
    """Scatter plots of 2-D codes, one panel per model, colored by digit."""
    import matplotlib

    colors = matplotlib.colormaps["tab10"]
    figure = new_figure(4.2 * len(codes) + 0.8, 4.0)
    axes = figure.subplots(1, len(codes), squeeze=False)[0]
    for ax, (name, points) in zip(axes, codes.items(), strict=True):
        for digit in np.unique(labels):
            chosen = points[labels == digit]
            ax.scatter(chosen[:, 0], chosen[:, 1], s=6, color=colors(int(digit) % 10),
                       label=str(digit))
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[-1].legend(title="digit", fontsize=7, markerscale=2, loc="center left",
                    bbox_to_anchor=(1.0, 0.5))
    figure.savefig(path, bbox_inches="tight", pad_inches=0.05)


def save_histogram(path: Path, values: np.ndarray, threshold: float | None, xlabel: str) -> None:
    """A histogram of ``values``, with a vertical line at ``threshold`` (when given); on a
    logarithmic axis when positive values spread over more than two decades."""
    figure = new_figure(5.5, 3.2)
    ax = figure.subplots()
    bins = min(60, max(10, len(values) // 20))
    low, high = values.min(), values.max()
    if low > 0 and high > 100 * np.median(values):
        bins = np.geomspace(low, high, bins + 1)
        ax.set_xscale("log")
    ax.hist(values, bins=bins, color="C0")
    if threshold is not None:
        ax.axvline(threshold, color="C3", linestyle="--",
                   label=f"threshold {threshold:.4g}: {np.mean(values > threshold):.1%} above")
        ax.legend(fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("rows")
    figure.savefig(path, bbox_inches="tight", pad_inches=0.05)


def save_code_map(path: Path, points: np.ndarray, values: np.ndarray, title: str,
                  label: str) -> None:
    """A scatter plot of 2-D ``points`` colored by ``values``: one color per class when they
    are labels (at most 20 distinct), a color scale otherwise."""
    import matplotlib

    figure = new_figure(5.4, 4.2)
    ax = figure.subplots()
    classes = np.unique(values)
    if values.dtype.kind not in "f" or len(classes) <= 20:
        colors = matplotlib.colormaps["tab20" if len(classes) > 10 else "tab10"]
        for index, value in enumerate(classes):
            chosen = points[values == value]
            ax.scatter(chosen[:, 0], chosen[:, 1], s=6, color=colors(index), label=str(value))
        ax.legend(title=label, fontsize=7, markerscale=2, loc="center left",
                  bbox_to_anchor=(1.0, 0.5))
    else:
        order = np.argsort(values)  # the highest values drawn last, on top
        dots = ax.scatter(points[order, 0], points[order, 1], s=6, c=values[order],
                          cmap="viridis")
        figure.colorbar(dots, ax=ax, label=label)
    low, high = np.percentile(points, [1, 99], axis=0)
    margin = 0.15 * (high - low)
    if np.any(points < low - margin) or np.any(points > high + margin):
        ax.set_xlim(low[0] - margin[0], high[0] + margin[0])  # far-off rows outside the view
        ax.set_ylim(low[1] - margin[1], high[1] + margin[1])
        title += " (1st-99th percentile view)"
    ax.set_title(title, fontsize=9)
    figure.savefig(path, bbox_inches="tight", pad_inches=0.05)
