"""What every entry point shares: one policy for errors and interrupts (:func:`exit_on_error`), process settings."""

from __future__ import annotations

import ctypes
import functools
import logging
import sys
from collections.abc import Callable
from typing import TypeVar

import torch

from reactivation import ReactivationError, processes
from reactivation.runs import os_error_text

F = TypeVar("F", bound=Callable)


def configure_process(training: bool = False) -> None:
    """Process-wide settings that make training and long rollouts faster on CPU.

    Zero-input rollouts of noise-free networks decay into float32 denormals, which are slow on x86: they are
    flushed to zero in every process.

    ``training=True`` (train.py only) also keeps freed buffers in glibc's heap: by default glibc returns
    large freed buffers to the OS and page-faults them in afresh on the next step (measured: a paper-size
    SN step 0.55 s with this against 0.67-0.78 s without). Analyses must not use it: over long chunked
    rollouts the heap then fragments and resident memory grows without bound (measured, 200 x 4000 SN
    steps: +2.1 GB with it, +19 MB without, at the same speed).
    """
    torch.set_flush_denormal(True)
    if not training:
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (macOS, Windows, musl): nothing to tune
        return
    m_trim_threshold, m_mmap_max = -1, -4  # mallopt parameter numbers from <malloc.h>
    libc.mallopt(m_mmap_max, 0)
    libc.mallopt(m_trim_threshold, 1 << 30)


def exit_on_error(func: F) -> F:
    """The one place where an entry point's failures become messages: a user's problem is one paragraph
    naming it and the fix, exit status 2, no traceback (it would only bury the message).

    - :class:`ReactivationError`: its message.
    - An OS error (full disk, read-only or missing folder): what and where, and what to do.
    - A config value that OmegaConf cannot resolve or convert (``${oc.env:...}``, a bad interpolation): the key.
    - Ctrl-C and SIGTERM (:func:`reactivation.processes.handling` makes SIGTERM an interrupt): how to
      continue, exit status 130 (Ctrl-C) or 143 (SIGTERM). Files are never left half-written. A process whose
      parent stops and reports it (:func:`reactivation.processes.supervised`: a sweep's worker, reproduce's
      training) exits with the same status and leaves the message to that parent.

    Anything else is a bug of ours and keeps its traceback.
    """
    from omegaconf.errors import OmegaConfBaseException

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            with processes.handling():
                return func(*args, **kwargs)
        except (ReactivationError, OSError, OmegaConfBaseException) as err:
            logging.getLogger("reactivation").debug("error", exc_info=True)
            print(f"error: {_message(err)}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt as err:
            if not processes.supervised():  # else the parent that stopped this process says it, once
                print(
                    "\ninterrupted: nothing was left half-written; run the same command again to continue "
                    "(training resumes from its last checkpoint, finished runs and results are kept).",
                    file=sys.stderr,
                )
            sys.exit(143 if isinstance(err, processes.Terminated) else 130)

    return wrapper  # type: ignore[return-value]


def _message(err: Exception) -> str:
    if isinstance(err, OSError):
        return os_error_text(err)
    if isinstance(err, ReactivationError):
        return str(err)
    key = getattr(err, "full_key", None) or "a config value"
    return f"{key}: {str(err).splitlines()[0]}. Give it a plain value on the command line ({key}=...)."
