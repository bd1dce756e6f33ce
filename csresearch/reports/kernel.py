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
