"""armsim: simulated ARM hypervisor hosts that speak QEMU's QMP wire protocol (standard library only).

- ``QMPServer`` (server.py): a QMP server playing the QEMU of one host profile, on a unix or TCP socket.
- ``load_profile`` / ``available_profiles`` (profiles.py): host profiles, JSON files in profiles/.
- ``write_wrapper`` (cli.py): a per-host emulator script, so each simulated host has its own emulator path.
- ``tools/armsim/qemu-system-aarch64`` and ``python -m armsim``: the stand-in emulator with libvirt's argv.

Not shipped in the collection; docs/simulator.md describes profiles, launching and fault switches.
"""

from armsim.profiles import PROFILE_DIR, Profile, available as available_profiles, load as load_profile
from armsim.server import Faults, QMPServer
from armsim.cli import write_wrapper

__all__ = ["PROFILE_DIR", "Profile", "available_profiles", "load_profile", "Faults", "QMPServer", "write_wrapper"]
