"""Running an exported model needs torch + smp + the I/O libraries: the inference package imports no qiskit."""

import subprocess
import sys


def test_importing_inference_loads_no_qiskit():
    code = ("import sys, hqctf_qiskit.inference, hqctf_qiskit.inference.model, hqctf_qiskit.inference.predict, "
            "hqctf_qiskit.inference.export, hqctf_qiskit.inference.inputs, hqctf_qiskit.inference.outputs; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0].startswith('qiskit')); "
            "assert not bad, bad")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
