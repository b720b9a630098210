"""`python -m sim --port 0` puts every provider on a free port and prints the ports it bound."""
from __future__ import annotations

import re
import subprocess
import sys

import requests

from bench.processes import SimProcess


def test_port_zero_prints_the_ports_really_bound(tmp_path):
    sim = SimProcess(tmp_path)
    sim.argv = [sys.executable, "-m", "sim", "--port", "0", "--latency-scale", "0"]
    try:
        sim.start()
        ports = {name: int(re.search(r":(\d+)$", url).group(1))
                 for name, url in sim.base_urls.items()}
        assert len(ports) == 13 and len(set(ports.values())) == 13
        assert all(port > 1024 for port in ports.values()), ports
        for url in sim.base_urls.values():
            assert requests.get(f"{url}/_sim/stats", timeout=5).status_code == 200
    finally:
        sim.stop()


def test_a_port_out_of_range_is_refused():
    done = subprocess.run([sys.executable, "-m", "sim", "--port", "70000"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "--port must be 0" in done.stderr
