"""Many processes, one data set: the few ``torch.distributed`` calls the estimators make.

When a default process group is initialized, or torchrun's environment variables announce one
(``WORLD_SIZE`` > 1 and ``MASTER_ADDR``), each process (rank) holds a shard of one data set:
closed-form statistics are summed over ranks, gradient training runs under
``DistributedDataParallel`` (see :mod:`deepae.training`), and only rank 0 writes files and
shows progress. The group started here uses gloo for CPU tensors and NCCL for CUDA tensors.
Without a process group every function here is the one-process identity.
"""

import atexit
import gc
import os

import numpy as np
import torch
import torch.distributed as dist


def active() -> bool:
    """True when this process is one rank of several; starts the default process group from
    torchrun's environment variables when they announce one."""
    if not dist.is_available():
        return False
    if not dist.is_initialized():
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or "MASTER_ADDR" not in os.environ:
            return False
        backend = "gloo"
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            backend = "cpu:gloo,cuda:nccl"
        dist.init_process_group(backend, **_elastic_store())
        atexit.register(_finish)
    return dist.get_world_size() > 1


def _elastic_store() -> dict:
    """Under torchrun's agent, its store with a prefix for this attempt: the agent keeps the
    store across the restarts of ``--max-restarts``, and a restarted group reading the
    addresses a killed attempt left there would wait on dead processes."""
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return {}
    world = int(os.environ["WORLD_SIZE"])
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world,
                          is_master=False)
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    return {"store": dist.PrefixStore(f"deepae/attempt{attempt}", store),
            "rank": int(os.environ["RANK"]), "world_size": world}


def _finish() -> None:
    """At exit, close the process group this module started, once every rank is done (a rank
    leaving early can make the others abort). Unreachable objects that still hold the group
    (``DistributedDataParallel`` wrappers in reference cycles) are freed first: freed after
    it, at the interpreter's teardown, they can abort the process."""
    if dist.is_initialized():
        gc.collect()
        dist.barrier()
        dist.destroy_process_group()


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if active() else 0


def is_main() -> bool:
    """True on rank 0: the process that writes files and shows progress."""
    return rank() == 0


def shard(n_rows: int) -> slice:
    """This rank's contiguous block of ``n_rows`` rows (all of them without a process group)."""
    if not active():
        return slice(0, n_rows)
    world, me = dist.get_world_size(), dist.get_rank()
    return slice(me * n_rows // world, (me + 1) * n_rows // world)


def local_cuda_device() -> torch.device:
    """The GPU of this process: ``cuda:LOCAL_RANK`` under torchrun, else the current one."""
    if "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return torch.device("cuda", torch.cuda.current_device())


def _collective_device() -> torch.device:
    """Where small collective tensors must live: the GPU for an NCCL-only group, else the CPU."""
    return local_cuda_device() if dist.get_backend() == "nccl" else torch.device("cpu")


def all_reduce(array: np.ndarray, op: str = "sum") -> np.ndarray:
    """The elementwise ``sum``, ``min`` or ``max`` of ``array`` over ranks, as float64."""
    array = np.asarray(array, dtype=np.float64)
    if not active():
        return array
    tensor = torch.from_numpy(array.copy()).to(_collective_device())
    dist.all_reduce(tensor, op={"sum": dist.ReduceOp.SUM, "min": dist.ReduceOp.MIN,
                                "max": dist.ReduceOp.MAX}[op])
    return tensor.cpu().numpy()


def broadcast_seed(seed: int) -> int:
    """Rank 0's ``seed`` on every rank, so all ranks initialize and split alike."""
    if not active():
        return seed
    tensor = torch.tensor([seed], dtype=torch.int64, device=_collective_device())
    dist.broadcast(tensor, src=0)
    return int(tensor.item())


def gather_objects(value) -> list:
    """``value`` from every rank, in rank order (a one-item list without a process group)."""
    if not active():
        return [value]
    values = [None] * dist.get_world_size()
    dist.all_gather_object(values, value)
    return values
