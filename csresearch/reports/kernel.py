"""The Jupyter kernel a report runs in.

Templates declare the kernel the kit registers (``csresearch``: ``make setup`` runs
``python -m ipykernel install --sys-prefix --name csresearch``), so that a template opened in
JupyterLab runs in the kit's environment. A pip-installed kit may have no such kernel spec:
then the report runs in ``python3`` of the *current* interpreter (the one running
``csresearch``), which has the kit installed by definition. ``python3`` always means the
current interpreter here, even when another ``python3`` kernel spec is registered on the
machine (it may belong to a Python without the kit).

Example
-------
>>> kernel_name_for("csresearch", available={"python3"})
'python3'
>>> kernel_name_for("csresearch", available={"csresearch", "python3"})
'csresearch'
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager

KIT_KERNEL = "csresearch"
FALLBACK = "python3"


class CurrentPythonSpecs(KernelSpecManager):
    """Kernel specs as installed, except ``python3``: the interpreter running this process."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        if kernel_name == FALLBACK:
            from ipykernel.kernelspec import get_kernel_dict

            d = get_kernel_dict()
            return KernelSpec(argv=d["argv"], display_name=d["display_name"], language=d["language"],
                              metadata=d.get("metadata", {}), resource_dir="")
        return super().get_kernel_spec(kernel_name)


def declared_kernel(path: str | Path) -> str:
    """The kernel name in the notebook's metadata (``python3`` when it declares none)."""
    nb = nbformat.read(str(path), as_version=4)
    return nb.metadata.get("kernelspec", {}).get("name") or FALLBACK


def kernel_name_for(declared: str, available: Collection[str] | None = None) -> str:
    """``declared`` when a kernel spec of that name is installed, else ``python3``."""
    if declared == FALLBACK:
        return FALLBACK
    names = set(available if available is not None else CurrentPythonSpecs().find_kernel_specs())
    return declared if declared in names else FALLBACK


def kernel_manager(path: str | Path, **kwargs: Any):
    """A ``KernelManager`` for the template at ``path`` (see the module docstring)."""
    from jupyter_client.manager import KernelManager

    specs = CurrentPythonSpecs()
    name = kernel_name_for(declared_kernel(path), specs.find_kernel_specs())
    return KernelManager(kernel_name=name, kernel_spec_manager=specs, **kwargs)


# -- a kernel per report, started ahead ------------------------------------------------------------
#: Sent to a kernel started ahead: the imports every template's hidden setup cell makes, so that
#: the kernel's start and these imports (about 3 s) overlap the report rendering before it.
WARM_UP = (
    "def _cs_warm_up():\n"
    "    import importlib\n"
    "    for name in ('csresearch.reports.notebook', 'csresearch.reports.sections', 'csresearch.survival',\n"
    "                 'pandas', 'lifelines', 'ibis', 'matplotlib.pyplot'):\n"
    "        importlib.import_module(name)\n"
    "_cs_warm_up()\n"
    "del _cs_warm_up\n"
)  # modules are loaded, the report's namespace stays empty


class ReadyKernel:
    """A fresh kernel for one template: its own process and namespace, the template's folder as
    working directory, Unix sockets in a private folder (no TCP port).

    :meth:`start` launches it; with ``warm=True`` a background thread waits for it and runs
    :data:`WARM_UP` (nothing else: the namespace the report sees holds only imported modules).
    A kernel serves one report and is then shut down (:meth:`close`).

    Example
    -------
    >>> k = ReadyKernel(template_path("retention")).start()  # doctest: +SKIP
    >>> execute(path, out, params, 900, kernel=k)  # doctest: +SKIP
    """

    def __init__(self, path: str | Path) -> None:
        import tempfile

        self.path = Path(path)
        self.sockets = tempfile.mkdtemp(prefix="cs-kernel-")
        self.km = kernel_manager(self.path, transport="ipc", ip=str(Path(self.sockets) / "k"))
        self._thread: Any = None
        self.warm_error: BaseException | None = None

    def start(self, warm: bool = False) -> ReadyKernel:
        import threading

        self.km.start_kernel(cwd=str(self.path.parent))
        if warm:
            self._thread = threading.Thread(target=self._warm, name="cs-kernel-warm-up", daemon=True)
            self._thread.start()
        return self

    def _warm(self) -> None:
        kc = self.km.client()
        try:
            kc.start_channels()
            kc.wait_for_ready(timeout=120)
            kc.execute_interactive(WARM_UP, silent=True, store_history=False, timeout=300)
        except Exception as e:  # noqa: BLE001 - a failed warm-up only costs the time it saves
            self.warm_error = e
        finally:
            kc.stop_channels()

    def ready(self, timeout: float | None = None) -> bool:
        """Wait for the warm-up; True when the kernel is alive and usable."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return False
        return self.warm_error is None and self.km.is_alive()

    def close(self) -> None:
        import shutil

        try:
            if self.km.has_kernel:
                self.km.shutdown_kernel(now=True)
        finally:
            shutil.rmtree(self.sockets, ignore_errors=True)


def start_ahead(path: str | Path) -> ReadyKernel | None:
    """A warm kernel for the template at ``path``, or None when it cannot start (the report
    then starts its own, and says why if that fails too)."""
    try:
        return ReadyKernel(path).start(warm=True)
    except Exception:  # noqa: BLE001 - starting ahead is an optimisation, never a failure
        return None


def execute(path: Path, output: Path, params: dict[str, Any], timeout: float, progress: bool = True,
            kernel: ReadyKernel | None = None) -> None:
    """Run the template with papermill in its own kernel (``kernel`` when given and alive, else a
    fresh one); interrupt it after ``timeout`` s; the kernel is shut down afterwards."""
    import threading

    import papermill as pm

    if kernel is not None and not kernel.ready(timeout=300):
        kernel.close()
        kernel = None
    kernel = kernel or ReadyKernel(path)  # started by nbclient through papermill
    km = kernel.km
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        try:
            km.interrupt_kernel()
        except Exception:  # noqa: BLE001 - the kernel may already be gone
            pass

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    try:
        pm.execute_notebook(
            str(path), str(output), parameters=params, kernel_name=km.kernel_name,
            progress_bar=progress, execution_timeout=timeout, start_timeout=120, km=km,
            resources={"metadata": {"path": str(path.parent)}},
        )
    except Exception as e:
        if expired.is_set():
            raise TimeoutError(f"timed out after {timeout:g} s (the report's time limit)") from e
        raise
    finally:
        timer.cancel()
        kernel.close()
