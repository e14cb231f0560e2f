"""Row guests: validate + render + schema-check a batch of guests of one host, in-process (domains.build)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time

from bench.common import ROOT, Result, interleaved, median, sized, spread
from bench import ansible_runner

FACT = ROOT / "tests" / "fixtures" / "facts" / "neoverse-v1.json"
COMMON = [{"name": "feat_RAS", "value": "1.0"}, {"name": "hw_prop_API", "policy": "disable"},
          {"name": "hw_prop_WRPs", "value": "0x2"}]
OWN = [None, None, None, [{"name": "sve256", "policy": "disable"}], [{"name": "feat_RAS", "value": "1.1_base"}],
       [{"name": "hw_prop_BRPs", "value": "3"}, {"name": "pmu", "policy": "require"}]]
MEMORY, VCPUS = (1024, 2048, 4096, 8192, 16384), (1, 2, 4, 8)


def guests(count, distinct=False):
    """A batch as operators write it: a few sizes and feature variants; ``distinct`` gives every guest its own size."""
    batch = []
    for n in range(count):
        guest = {"name": "vm%05d" % n, "memory": (1024 + n) if distinct else MEMORY[n % len(MEMORY)],
                 "vcpus": VCPUS[(n // 5) % len(VCPUS)]}
        own = OWN[n % len(OWN)]
        if own is not None:
            guest["features"] = own
        batch.append(guest)
    return batch


def _build(batch, fact):
    from ansible_collections.armvirt.cpu.plugins.plugin_utils import domains
    outcome = domains.build(batch, COMMON, fact, host="v1-01", libvirt_check=False)
    if outcome.errors or len(outcome.documents) != len(batch):
        raise RuntimeError("domains.build refused the batch: %s" % outcome.message())
    return outcome


def _lxml_alone(documents):
    """The schema floor: lxml parse + RelaxNG validate of every document (the cached, overlaid validator)."""
    from lxml import etree

    from ansible_collections.armvirt.cpu.plugins.module_utils._libvirt import caps
    from ansible_collections.armvirt.cpu.plugins.plugin_utils import libvirt_schema
    relaxng = libvirt_schema.domain_validator(caps.DEFAULT_SCHEMA_DIR, allow_value=True)._relaxng
    started = time.perf_counter()
    for _unused, text in documents:
        if not relaxng.validate(etree.fromstring(text.encode("utf-8"))):
            raise RuntimeError("a document fails the schema")
    return time.perf_counter() - started


def _write(documents):
    from ansible_collections.armvirt.cpu.plugins.modules.guest_domains import write_documents
    work = tempfile.mkdtemp(prefix="armvirt-bench-guests-")
    try:
        started = time.perf_counter()
        write_documents(os.path.join(work, "out"), documents, False, False)
        return time.perf_counter() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)


def guests_row(cfg):
    count = getattr(cfg, "guest_count", None) or sized(cfg, 30, 1000, 10000)
    # 500 items took 5-12 min here (0.6-1.4 s each): the default keeps a full run near 10 min; --template-items 500
    template_count = getattr(cfg, "template_items", None) or sized(cfg, 2, 20, 100)
    rounds = sized(cfg, 1, 3, 5)
    with open(FACT) as handle:
        fact = json.load(handle)
    batch = guests(count)
    _build(batch[:10], fact)  # compiles the template and the schema once, as the first task of a process does
    outcome = _build(batch, fact)
    times = interleaved({"ours": lambda: _build(batch, fact),
                         "lxml": lambda: _lxml_alone(outcome.documents)}, rounds)
    ours, lxml_time = median(times["ours"]), median(times["lxml"])
    distinct_batch = guests(count, distinct=True)
    distinct = median(interleaved({"d": lambda: _build(distinct_batch, fact)}, rounds)["d"])
    writes = [_write(outcome.documents) for _unused in range(sized(cfg, 1, 1, 3))]
    template_per_guest, template_note = ansible_runner.template_loop_per_guest(template_count, cfg)
    rate, lxml_rate = count / ours, count / lxml_time
    per_guest = ours / count
    notes = ["%s guests, %d distinct documents after name masking; %d rounds, medians; spread %s"
             % (format(count, ","), len({(g["memory"], g["vcpus"], json.dumps(g.get("features"))) for g in batch}),
                rounds, spread(times["ours"])),
             "every guest a distinct document (%s schema checks): %s guests/s"
             % (format(count, ","), format(int(count / distinct), ",")),
             "file writes apart (guest_domains module, fsync per file): %.3f s for %s files (%.0f us per guest)"
             % (median(writes), format(count, ","), median(writes) / count * 1e6),
             template_note]
    return [
        Result("guests", "guests validate+render+schema, in-process", rate, 10000.0, unit="/s",
               target=">= 10,000 guests/s", met=rate >= 10000, baseline_name="target rate", ratio=rate / 10000.0,
               notes=notes),
        Result("guests", "  per guest vs ansible.builtin.template loop", per_guest, template_per_guest,
               target="report", baseline_name="template task loop, per guest",
               notes=["%d template loop items; per guest = (loop playbook - empty playbook) / items" % template_count]),
        Result("guests", "  per guest vs lxml parse + RelaxNG alone", per_guest, 1.0 / lxml_rate,
               target="report", baseline_name="lxml parse + validate per document",
               notes=["lxml alone: %s docs/s (about 27,000 expected here)" % format(int(lxml_rate), ",")]),
    ]
