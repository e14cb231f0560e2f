# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action armvirt.cpu.guest_domains: decide every guest's XML on the controller, write it all in one module call.

Why an action plugin: the checks need lxml (libvirt's RelaxNG schema), which hypervisors do not have and should
not need; policy files and templates are on the controller; and 10,000 guests must not cost 10,000 module runs. The
options are documented in ``plugins/modules/guest_domains.py`` and validated here with the spec the module builds
too (``module_utils._argspec``); the work is ``plugin_utils.domains.build``; the module only writes.

With ``confirm``, plan, confirmation and write are one task: between the controller's checks and the write, the host's
own QEMU confirms each distinct pair of emulator and ``-cpu`` value (``armvirt.cpu.cpu_check``, run on the host once
per pair, as a loop of that module would); a refusal fails the task with every refusal and nothing is written.
"""

from __future__ import annotations

from ansible.utils.display import Display

from ansible_collections.armvirt.cpu.plugins.plugin_utils._action import ValidatedAction
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import policy as _cpu_policy
from ansible_collections.armvirt.cpu.plugins.module_utils._guest.domain_files import DOCUMENT_KEY
from ansible_collections.armvirt.cpu.plugins.module_utils._argspec import guest_domains_argument_spec
from ansible_collections.armvirt.cpu.plugins.plugin_utils import domains, policy

display = Display()

MODULE = "armvirt.cpu.guest_domains"
CHECK_MODULE = "armvirt.cpu.cpu_check"
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
            path = policy.find(self, "files", args["policy_file"])
            try:
                loaded = policy.load(path, modes=ARGUMENT_SPEC["mode"]["choices"])
            except _cpu_policy.PolicyError as exc:
                return self._failed(result, "invalid guest CPU policy file:\n%s" % exc, policy_errors=exc.messages)
            mode, features, delivery = loaded.mode or mode, loaded.features, loaded.delivery or delivery
            model = loaded.model if loaded.mode else model
        problem = _cpu_policy.model_problem(mode, model)
        if problem:
            return self._failed(result, "%s: %s" % (host, problem))
        if props is None:
            return self._failed(result, "%s: no arm_cpu_props to check the guests against: pass props, or gather "
                                "ansible_facts['arm_cpu_props'] with armvirt.cpu.props_facts first." % host)
        template = policy.find(self, "templates", args["template"], "template") if args["template"] else None

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

        confirmations = domains.confirmations(outcome.guests)
        checks = []
        if args["confirm"]:
            machine = task_vars.get("inventory_hostname") or host
            checks = [self._check(item, args, machine, task_vars, result) for item in confirmations]
            refused = [check for check in checks if check["failed"]]
            if refused:
                return self._failed(result, domains.refusal_message(machine, refused), confirmations=confirmations,
                                    checks=checks, notes=outcome.notes)

        module_args = {"output_dir": args["output_dir"],
                       "guests": [{"name": name, DOCUMENT_KEY: text} for name, text in outcome.documents]}
        written = self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars)
        if written.get("failed"):   # the module's words (an unsafe output_dir or guest file), with the host named
            result.update(written, msg="%s: %s" % (host, written.get("msg", "writing the domain XML failed")),
                          guests={})
            return result
        guests = written.get("guests", {})
        for name, info in guests.items():
            info.update(outcome.guests[name])   # qemu_cpu_arg and emulator
        result.update(changed=written.get("changed", False), guests=guests,
                      qemu_cpu_args={name: info["qemu_cpu_arg"] for name, info in outcome.guests.items()},
                      confirmations=confirmations, checks=checks,
                      schema=outcome.schema, libvirt_check=outcome.libvirt_check, notes=outcome.notes)
        if "diff" in written:
            result["diff"] = written["diff"]
        return result

    def _check(self, item, args, machine, task_vars, result):
        """cpu_check's result for one item of ``confirmations``, run on the host with the item's emulator, plus the
        item's ``emulator`` and ``guests`` and ``failed``; its warnings become the task's."""
        module_args = {name: args[name] for name in CHECK_OPTIONS}
        module_args.update(cpu_arg=item["cpu_arg"], emulator=item["emulator"], host=machine)
        if item["cpu_arg"].split(",", 1)[0] not in ("host", "max"):
            module_args["mode"] = "custom"   # a named model
        checked = self._execute_module(module_name=CHECK_MODULE, module_args=module_args, task_vars=task_vars)
        warnings = checked.pop("warnings", None)
        if warnings:
            result.setdefault("warnings", []).extend(warnings)
        check = {key: value for key, value in checked.items()
                 if key != "invocation" and not key.startswith("_ansible")}
        check.update(emulator=item["emulator"], guests=item["guests"], failed=bool(checked.get("failed")))
        return check

    @staticmethod
    def _failed(result, msg, **extra):
        result.update(failed=True, changed=False, msg=msg, guests={}, **extra)
        return result
