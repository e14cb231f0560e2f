# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action armvirt.cpu.guest_domains: decide every guest's XML on the controller, write it all in one module call.

Why an action plugin: the checks need lxml (libvirt's RelaxNG schema), which hypervisors do not have and should
not need; policy files and templates are on the controller; and 10,000 guests must not cost 10,000 module runs. The
options are documented in ``plugins/modules/guest_domains.py`` and validated here with the spec the module builds
too (``module_utils._argspec``); the work is ``plugin_utils.domains.build``; the module only writes.

With ``confirm``, plan, confirmation and write are one task and one module run: after the controller's checks, the
module has the host's own QEMU confirm each distinct pair of emulator and ``-cpu`` value (``confirm.verdicts``,
armvirt.cpu.cpu_check's work, in the module's process) and writes only when every one was confirmed; a refusal fails
the task with every refusal and nothing is written.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.utils.display import Display

from ansible_collections.armvirt.cpu.plugins.plugin_utils._action import ValidatedAction
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import confirm
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import policy
from ansible_collections.armvirt.cpu.plugins.module_utils._guest.domain_files import CPU_ARG_KEY, DOCUMENT_KEY, EMULATOR_KEY
from ansible_collections.armvirt.cpu.plugins.module_utils._libvirt import caps
from ansible_collections.armvirt.cpu.plugins.module_utils._argspec import guest_domains_argument_spec
from ansible_collections.armvirt.cpu.plugins.plugin_utils import domains, policy_files

display = Display()

MODULE = "armvirt.cpu.guest_domains"
ARGUMENT_SPEC = guest_domains_argument_spec()
# what each cpu_check run gets as it is (the probe's options and the host paths); emulator is each request's own
CHECK_OPTIONS = ("accel", "timeout", "cache_dir", "sysfs_path", "procfs_path")


class ActionModule(ValidatedAction, argument_spec=ARGUMENT_SPEC):

    def run_validated(self, args, task_vars, result):
        facts = task_vars.get("ansible_facts") or {}
        host = args["host"] or task_vars.get("inventory_hostname") or "host"
        host_props = facts.get("arm_cpu_props")
        props = args["props"] if args["props"] is not None else host_props
        # <domain type> follows this host's own accelerator; props may be a fleet baseline of mixed hosts
        accel = host_props.get("accel") if isinstance(host_props, dict) else None
        libvirt = args["libvirt"] if args["libvirt"] is not None else facts.get("libvirt_cpu")
        mode, model, features, delivery = args["mode"], args["model"], args["features"], args["delivery"]
        if args["policy_file"]:
            path = policy_files.find(self, "files", args["policy_file"])
            try:
                loaded = policy_files.load(path, modes=ARGUMENT_SPEC.argument_spec["mode"]["choices"])
            except policy.PolicyError as exc:
                return self._failed(result, "invalid guest CPU policy file:\n%s" % exc, policy_errors=exc.messages)
            mode, features, delivery = loaded.mode or mode, loaded.features, loaded.delivery or delivery
            model = loaded.model if loaded.mode else model
        problem = policy.model_problem(mode, model)
        if problem:
            return self._failed(result, "%s: %s" % (host, problem))
        if props is None:
            return self._failed(result, "%s: no arm_cpu_props to check the guests against: pass props, or gather "
                                "ansible_facts['arm_cpu_props'] with armvirt.cpu.props_facts first." % host)
        template = policy_files.find(self, "templates", args["template"], "template") if args["template"] else None

        try:
            outcome = domains.build(args["guests"], features, props, mode, host, delivery, template,
                                    args["schema_dir"], libvirt, args["libvirt_check"], accel, args["emulator"],
                                    model=model, own_props=host_props if isinstance(host_props, dict) else None)
        except domains.SetupError as exc:
            return self._failed(result, "%s: %s" % (host, exc))
        for note in outcome.notes:
            display.warning(note)
        if outcome.errors:
            return self._failed(result, outcome.failure(host), errors=outcome.errors, notes=outcome.notes)

        confirmations = confirm.confirmations(outcome.guests)
        guests = [{"name": name, DOCUMENT_KEY: text} for name, text in outcome.documents]
        module_args = {"output_dir": args["output_dir"], "guests": guests, "confirm": args["confirm"],
                       "host": task_vars.get("inventory_hostname") or host}
        if isinstance(libvirt, Mapping):
            # the fact may have been gathered a while ago (armvirt.cpu.gather), and it decided the XML (the checks, and
            # the rollout's delivery even without them): the writer reads that part again on the host and writes
            # nothing when it no longer holds
            module_args["libvirt"] = caps.deciding(libvirt)
        if args["confirm"]:
            # the writer has the host's QEMU confirm each distinct request first, in its own process: a refusal
            # writes nothing
            for guest in guests:
                info = outcome.guests[guest["name"]]
                guest.update({EMULATOR_KEY: info["emulator"], CPU_ARG_KEY: info["qemu_cpu_arg"]})
            module_args.update({name: args[name] for name in CHECK_OPTIONS})
        written = self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars)
        checks = written.get("checks", [])
        if written.get("failed"):
            if any(check["failed"] for check in checks):   # the module's message names each refusal
                return self._failed(result, written["msg"], confirmations=confirmations, checks=checks,
                                    notes=outcome.notes)
            # the module's words (an unsafe output_dir or guest file), with the host named
            result.update(written, msg="%s: %s" % (host, written.get("msg", "writing the domain XML failed")),
                          guests={})
            return result
        written_guests = written.get("guests", {})
        for name, info in written_guests.items():
            info.update(outcome.guests[name])   # qemu_cpu_arg and emulator
        result.update(changed=written.get("changed", False), guests=written_guests,
                      qemu_cpu_args={name: info["qemu_cpu_arg"] for name, info in outcome.guests.items()},
                      confirmations=confirmations, checks=checks,
                      schema=outcome.schema, libvirt_check=outcome.libvirt_check, notes=outcome.notes)
        if "diff" in written:
            result["diff"] = written["diff"]
        return result

    @staticmethod
    def _failed(result, msg, **extra):
        result.update(failed=True, changed=False, msg=msg, guests={}, **extra)
        return result
