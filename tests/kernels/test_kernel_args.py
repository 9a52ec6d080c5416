"""The argument names the kernel runtime binds by, against the OpenCL sources' signatures."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from skillgym.kernels.actor_critic import KERNEL_ARGS


def parameter_names(source_file: str) -> list[str]:
    """The parameter names of kernel ``actor_critic`` in ``source_file``, every ``#ifdef`` taken."""
    source = resources.files("skillgym.kernels").joinpath(source_file).read_text()
    signature = re.search(r"__kernel void actor_critic\((.*?)\)\s*\{", source, re.DOTALL)
    assert signature is not None, f"no kernel actor_critic in {source_file}"
    code = "\n".join(
        line for line in signature.group(1).splitlines() if not line.lstrip().startswith("#")
    )
    return [parameter.split()[-1].lstrip("*") for parameter in code.split(",")]


@pytest.mark.parametrize(
    ("source_file", "names"),
    [("actor_critic.cl", KERNEL_ARGS), ("simt_actor_critic.cl", KERNEL_ARGS[:13])],
)
def test_kernel_args_name_the_sources_parameters_in_order(source_file, names):
    assert parameter_names(source_file) == list(names)
