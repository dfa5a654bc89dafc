"""The allocator policy: freed feature maps stay in the process instead of being page-faulted in anew."""

import json
import os
import subprocess
import sys

import pytest

SNIPPET = r"""
import json, resource
import torch
from autoseg.allocator import keep_freed_memory
applied = keep_freed_memory()
torch.manual_seed(0)
network = torch.nn.Sequential(
    torch.nn.Conv3d(1, 8, 3, padding=1), torch.nn.InstanceNorm3d(8), torch.nn.Conv3d(8, 8, 3, padding=1), torch.nn.Conv3d(8, 2, 1)
)
x = torch.randn(1, 1, 64, 128, 128)  # feature maps of 32 and 4 MB, each pass allocating them anew
def faults_of_passes(passes):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    with torch.no_grad():
        for _ in range(passes):
            network(x)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
faults_of_passes(2)  # the process grows to its peak
print(json.dumps({"applied": applied, "faults": faults_of_passes(5)}))
"""


def run(environment: dict) -> dict:
    result = subprocess.run([sys.executable, "-c", SNIPPET], capture_output=True, text=True, check=True, env={**os.environ, **environment})
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_passes_after_the_first_reuse_freed_memory_instead_of_faulting_it_in():
    kept, system = run({}), run({"AUTOSEG_MALLOC": "system"})
    assert kept["applied"] and not system["applied"]
    pages_per_pass = 2 * 8 * 64 * 128 * 128 * 4 // os.sysconf("SC_PAGE_SIZE")
    assert system["faults"] > 5 * pages_per_pass  # glibc's default: every pass faults its feature maps in again
    assert kept["faults"] < 0.1 * system["faults"]
