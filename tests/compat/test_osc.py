"""python-openstackclient against a running neutrino server (builtin identity).

Drives `openstack network|subnet|port create, list, show, set, unset, delete` and
`openstack security group [rule]` with the clouds.yaml the server wrote on first start, and checks what the CLI prints.
Environment: OPENSTACK (the openstack executable), OS_CLIENT_CONFIG_FILE.
"""

import json
import os
import subprocess
import unittest
import uuid

OPENSTACK = os.environ["OPENSTACK"]


def osc(*args, cloud="neutrino-demo", check=True):
    """Runs `openstack --os-cloud CLOUD ARGS`; returns parsed JSON output for -f json."""
    cmd = [OPENSTACK, "--os-cloud", cloud, *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({p.returncode}):\n{p.stderr}")
    if not check:
        return p
    if "-f" in args and "json" in args and p.stdout.strip():
        return json.loads(p.stdout)
    return p.stdout


class NetworkSubnetPortLifecycle(unittest.TestCase):
    def setUp(self):
        self.sfx = uuid.uuid4().hex[:8]

    def name(self, base):
        return f"{base}-{self.sfx}"

    def test_full_lifecycle(self):
        net = self.name("net")
        n = osc("network", "create", "--description", "first", "--tag", "blue", net, "-f", "json")
        self.assertEqual(n["name"], net)
        self.assertEqual(n["status"], "ACTIVE")
        self.assertEqual(n["description"], "first")
        self.assertEqual(n["tags"], ["blue"])
        self.assertEqual(n["mtu"], 1450)  # a VXLAN tenant network on a 1500-byte underlay

        names = [x["Name"] for x in osc("network", "list", "-f", "json")]
        self.assertIn(net, names)
        tagged = [x["Name"] for x in osc("network", "list", "--tags", "blue", "-f", "json")]
        self.assertIn(net, tagged)

        osc("network", "set", "--description", "second", "--tag", "green", net)
        n = osc("network", "show", net, "-f", "json")
        self.assertEqual(n["description"], "second")
        self.assertEqual(sorted(n["tags"]), ["blue", "green"])
        osc("network", "unset", "--tag", "blue", net)
        self.assertEqual(osc("network", "show", net, "-f", "json")["tags"], ["green"])

        sub = self.name("sub")
        s = osc("subnet", "create", "--network", net, "--subnet-range", "10.42.0.0/24",
                "--allocation-pool", "start=10.42.0.10,end=10.42.0.20",
                "--dns-nameserver", "10.42.0.53", "--tag", "s1", sub, "-f", "json")
        self.assertEqual(s["cidr"], "10.42.0.0/24")
        self.assertEqual(s["gateway_ip"], "10.42.0.1")
        self.assertEqual(s["allocation_pools"], [{"start": "10.42.0.10", "end": "10.42.0.20"}])
        self.assertEqual(s["dns_nameservers"], ["10.42.0.53"])
        self.assertEqual(s["ip_version"], 4)
        self.assertTrue(s["enable_dhcp"])

        nogw = self.name("nogw")
        s2 = osc("subnet", "create", "--network", net, "--subnet-range", "10.43.0.0/28",
                 "--gateway", "none", "--no-dhcp", nogw, "-f", "json")
        self.assertIsNone(s2["gateway_ip"])
        self.assertEqual(s2["allocation_pools"], [{"start": "10.43.0.1", "end": "10.43.0.14"}])
        self.assertFalse(s2["enable_dhcp"])

        osc("subnet", "set", "--name", sub + "-x", "--dns-nameserver", "10.42.0.54", sub)
        s = osc("subnet", "show", sub + "-x", "-f", "json")
        # OSC puts the new server first; the server keeps the order it is given.
        self.assertEqual(sorted(s["dns_nameservers"]), ["10.42.0.53", "10.42.0.54"])
        osc("subnet", "unset", "--dns-nameserver", "10.42.0.53", sub + "-x")
        self.assertEqual(osc("subnet", "show", sub + "-x", "-f", "json")["dns_nameservers"], ["10.42.0.54"])
        sub = sub + "-x"
        subnets = [x["Name"] for x in osc("subnet", "list", "--network", net, "-f", "json")]
        self.assertEqual(sorted(subnets), sorted([sub, nogw]))

        p1 = self.name("p1")
        p = osc("port", "create", "--network", net, "--fixed-ip", f"subnet={sub},ip-address=10.42.0.15",
                "--tag", "vm", p1, "-f", "json")
        self.assertEqual(p["fixed_ips"], [{"subnet_id": s["id"], "ip_address": "10.42.0.15"}])
        self.assertEqual(p["status"], "DOWN")
        self.assertTrue(p["mac_address"].startswith("fa:16:3e:"))
        self.assertEqual(p["tags"], ["vm"])

        p2 = self.name("p2")
        q = osc("port", "create", "--network", net, "--fixed-ip", f"subnet={sub}", p2, "-f", "json")
        ip = q["fixed_ips"][0]["ip_address"]
        last = int(ip.split(".")[-1])
        self.assertTrue(10 <= last <= 20 and last != 15, ip)

        clash = osc("port", "create", "--network", net, "--fixed-ip", f"subnet={sub},ip-address=10.42.0.15",
                    self.name("p3"), check=False)
        self.assertNotEqual(clash.returncode, 0)
        self.assertIn("10.42.0.15 is in use", clash.stderr)

        ports = {x["Name"]: x for x in osc("port", "list", "--network", net, "-f", "json")}
        self.assertEqual(set(ports), {p1, p2})

        osc("port", "set", "--name", p1 + "-x", "--description", "vm port", p1)
        p = osc("port", "show", p1 + "-x", "-f", "json")
        self.assertEqual(p["description"], "vm port")
        osc("port", "unset", "--tag", "vm", p1 + "-x")
        self.assertEqual(osc("port", "show", p1 + "-x", "-f", "json")["tags"], [])

        busy = osc("network", "delete", net, check=False)
        self.assertNotEqual(busy.returncode, 0)
        busy = osc("subnet", "delete", sub, check=False)
        self.assertNotEqual(busy.returncode, 0)

        osc("port", "delete", p1 + "-x", p2)
        self.assertNotEqual(osc("port", "show", p2, check=False).returncode, 0)
        osc("subnet", "delete", sub, nogw)
        osc("network", "delete", net)
        gone = osc("network", "show", net, check=False)
        self.assertNotEqual(gone.returncode, 0)
        self.assertIn("No Network found", gone.stderr)

    def test_security_groups_and_port_security(self):
        web = self.name("web")
        g = osc("security", "group", "create", "--description", "web tier", web, "-f", "json")
        self.assertEqual(g["name"], web)
        self.assertEqual(len(g["rules"]), 2)  # the egress rules of a new group
        r = osc("security", "group", "rule", "create", "--ingress", "--protocol", "tcp",
                "--dst-port", "22", "--remote-ip", "192.0.2.0/24", web, "-f", "json")
        self.assertEqual((r["port_range_min"], r["port_range_max"]), (22, 22))
        self.assertEqual(r["remote_ip_prefix"], "192.0.2.0/24")
        dup = osc("security", "group", "rule", "create", "--ingress", "--protocol", "tcp",
                  "--dst-port", "22", "--remote-ip", "192.0.2.0/24", web, check=False)
        self.assertNotEqual(dup.returncode, 0)
        self.assertIn(r["id"], dup.stderr)
        rules = osc("security", "group", "rule", "list", web, "-f", "json")
        self.assertEqual(len(rules), 3)

        net = self.name("sgnet")
        osc("network", "create", net)
        osc("subnet", "create", "--network", net, "--subnet-range", "10.44.0.0/24", self.name("sgsub"))
        p = osc("port", "create", "--network", net, self.name("dflt"), "-f", "json")
        default = [x for x in osc("security", "group", "list", "-f", "json") if x["Name"] == "default"]
        self.assertEqual(len(default), 1)
        self.assertEqual(p["security_group_ids"], [default[0]["ID"]])
        q = osc("port", "create", "--network", net, "--security-group", web, self.name("web"), "-f", "json")
        self.assertEqual(q["security_group_ids"], [g["id"]])
        busy = osc("security", "group", "delete", web, check=False)
        self.assertNotEqual(busy.returncode, 0)
        self.assertIn("in use", busy.stderr)

        osc("port", "set", "--allowed-address", "ip-address=10.44.0.200", q["id"])
        q = osc("port", "show", q["id"], "-f", "json")
        self.assertEqual(q["allowed_address_pairs"],
                         [{"ip_address": "10.44.0.200", "mac_address": q["mac_address"]}])
        refused = osc("port", "set", "--disable-port-security", q["id"], check=False)
        self.assertNotEqual(refused.returncode, 0)
        osc("port", "set", "--no-security-group", "--no-allowed-address", "--disable-port-security", q["id"])
        q = osc("port", "show", q["id"], "-f", "json")
        self.assertFalse(q["port_security_enabled"])
        self.assertEqual(q["security_group_ids"], [])

        osc("port", "delete", p["id"], q["id"])
        osc("security", "group", "delete", web)
        osc("network", "delete", net)

    def test_admin_sees_provider_attributes_demo_does_not(self):
        net = self.name("prov")
        n = osc("network", "create", "--provider-network-type", "vlan",
                "--provider-physical-network", "physnet1", "--provider-segment", "123",
                "--share", net, "-f", "json", cloud="neutrino-admin")
        self.assertEqual(n["provider:network_type"], "vlan")
        self.assertEqual(n["provider:segmentation_id"], 123)
        self.assertTrue(n["shared"])
        seen = osc("network", "show", n["id"], "-f", "json")
        self.assertIsNone(seen.get("provider:network_type"))
        denied = osc("network", "create", "--share", self.name("nope"), check=False)
        self.assertNotEqual(denied.returncode, 0)
        self.assertIn("disallowed by policy", denied.stderr)
        osc("network", "delete", net, cloud="neutrino-admin")


if __name__ == "__main__":
    unittest.main()
