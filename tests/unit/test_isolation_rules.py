"""The one network policy's rules (localhub/isolation.py), as data: what a server may reach, in order."""

from __future__ import annotations

import os

import pytest

from localhub import isolation

pytestmark = pytest.mark.unit


def test_the_hub_api_and_dns_pass_private_ranges_are_dropped_and_answers_come_first():
    into_host, out = isolation.rules({("172.30.0.1", 8768)})
    for chain in (into_host, out):
        assert chain[0] == ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"]
        assert ["-d", "172.30.0.1", "-p", "tcp", "--dport", "8768", "-j", "RETURN"] in chain
        assert ["-p", "udp", "--dport", "53", "-j", "RETURN"] in chain
    assert into_host[-1] == ["-j", "DROP"]  # nothing else on this desktop
    dropped = [rule[1] for rule in out if rule[-1] == "DROP"]
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10"} <= set(dropped)
    assert out.index(["-d", "172.30.0.1", "-p", "tcp", "--dport", "8768", "-j", "RETURN"]) < \
        out.index(["-d", "172.16.0.0/12", "-j", "DROP"])  # the hub is allowed before its range is dropped
    assert not [rule for rule in out if rule[-1] == "ACCEPT"]  # the host's own firewall keeps the last word


def test_chain_and_bridge_names_fit_the_kernels_limits():
    for name in ("0123abcd", "GUEST"):
        assert all(len(chain) <= 28 for chain in isolation.chains(name))
    assert isolation.bridge_of({"Id": "f" * 64, "Options": {}}) == "br-ffffffffffff"
    assert isolation.bridge_of({"Id": "f" * 64, "Options": {"com.docker.network.bridge.name": "lh-0123abcd"}}) \
        == "lh-0123abcd"


def test_the_desktops_own_lans_are_dropped_after_the_private_ranges():
    _, out = isolation.rules(set(), ["192.0.2.0/24"])
    assert out[-1] == ["-d", "192.0.2.0/24", "-j", "DROP"]


def test_without_iptables_it_says_why(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(isolation, "SBIN_PATH", str(tmp_path))
    assert isolation.why_unavailable() == "iptables is not installed, so network isolation cannot be enforced"
    fake = tmp_path / "iptables"
    fake.write_text("#!/bin/sh\necho 'iptables v1.8.9 (nf_tables): Permission denied (you must be root)' >&2\nexit 4\n")
    fake.chmod(0o755)
    assert isolation.why_unavailable() == ("iptables cannot be changed here (iptables v1.8.9 (nf_tables): "
                                           "Permission denied (you must be root))")


def test_rules_of_bridges_that_are_gone_are_forgotten_and_live_ones_kept(monkeypatch, tmp_path):
    calls = tmp_path / "calls"
    fake = tmp_path / "iptables"
    fake.write_text(f"""#!/bin/sh
echo "$@" >> {calls}
case "$*" in
  *"-S INPUT"*) printf '%s\\n' '-P INPUT ACCEPT' '-A INPUT -i lo -j LOCALHUB-live-IN' \\
                      '-A INPUT -i lh-gone0 -j LOCALHUB-gone-IN' '-A INPUT -i lo -j ACCEPT' ;;
  *"-D "*) mark={tmp_path}/deleted-$(echo "$*" | tr -c 'a-zA-Z0-9' _)
          [ -e "$mark" ] && exit 1; touch "$mark"; exit 0 ;;
esac
""")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    assert isolation.forget_gone() == ["gone"]
    made = calls.read_text()
    assert "-X LOCALHUB-gone-IN" in made and "-X LOCALHUB-gone-OUT" in made
    assert "LOCALHUB-live" not in made.replace("-S INPUT", "")


@pytest.mark.skipif(not any(os.path.exists(f"{d}/iptables") for d in ("/usr/sbin", "/sbin")),
                    reason="iptables is not installed in the sbin folders here")
def test_iptables_is_found_where_debian_puts_it_off_a_users_path(monkeypatch):
    """Before: a Debian user (PATH without /usr/sbin) was told 'iptables is not installed' when it was."""
    monkeypatch.setenv("PATH", "/usr/local/bin:/usr/bin:/bin")
    assert isolation.iptables_command() in ("/usr/sbin/iptables", "/sbin/iptables", "/usr/local/sbin/iptables")
    assert "not installed" not in (isolation.why_unavailable() or "")
