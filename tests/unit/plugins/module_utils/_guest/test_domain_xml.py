"""domain_xml: what decides a guest's CPU in libvirt's domain XML."""

from ansible_collections.armvirt.cpu.plugins.module_utils._guest import domain_xml
from ansible_collections.armvirt.cpu.tests.unit.plugins.module_utils.domain_samples import domain


def test_signature_adds_the_sve_libvirt_adds_for_any_vector_length():
    """libvirt 9.0 stores <feature policy='require' name='sve'/> after any sveN feature, whatever its policy, so a
    check-mode prediction must not see a change where a real define would store the same."""
    for policy in ("require", "optional", "disable", "forbid"):
        ours = domain(cpu="<cpu mode='maximum'><feature policy='%s' name='sve512'/></cpu>" % policy)
        stored = domain(cpu="<cpu mode='maximum'><feature policy='%s' name='sve512'/><feature policy='require' "
                            "name='sve'/></cpu>" % policy)
        assert domain_xml.signature(ours) == domain_xml.signature(stored), policy
