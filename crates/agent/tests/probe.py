# Probes for the firewall test on a real Open vSwitch, run inside a "VM" namespace.
#   probe.py serve PORT...        TCP echo servers; prints "ready"
#   probe.py connect IP PORT      one TCP connection; exit 0 if it echoes within 2 s
#   probe.py whoami PORT          a TCP server answering each connection with the caller's
#                                 address (as this namespace sees it); prints "ready"
#   probe.py ask IP PORT          one TCP connection; prints the answer, exit 0 within 2 s
#   probe.py session IP PORT      a TCP connection kept open: each stdin line is sent and
#                                 answered "ok" (echoed within 2 s) or "timeout"
#   probe.py sniff IFACE SECONDS  prints "ready", then one line per frame received:
#                                 "ip SRC DST PROTO DPORT" or "arp SPA TPA"
#   probe.py send IFACE KIND SRC_MAC SRC_IP DST_MAC DST_IP [DPORT]
#                                 one raw frame: KIND udp (to DPORT) or arp (a request)
import socket
import struct
import sys
import threading
import time


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac(s):
    return bytes(int(b, 16) for b in s.split(":"))


def serve(ports):
    def one(port):
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("0.0.0.0", port))
        srv.listen(16)
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    def echo(conn):
        while True:
            data = conn.recv(4096)
            if not data:
                return
            conn.sendall(data)

    for p in ports:
        threading.Thread(target=one, args=(int(p),), daemon=True).start()
    time.sleep(0.3)
    print("ready", flush=True)
    while True:
        time.sleep(3600)


def connect(ip, port):
    s = socket.create_connection((ip, int(port)), timeout=2)
    s.settimeout(2)
    s.sendall(b"hello\n")
    sys.exit(0 if s.recv(100) == b"hello\n" else 1)


def whoami(port):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", int(port)))
    srv.listen(16)
    print("ready", flush=True)
    while True:
        conn, peer = srv.accept()
        conn.sendall((peer[0] + "\n").encode())
        conn.close()


def ask(ip, port):
    s = socket.create_connection((ip, int(port)), timeout=2)
    s.settimeout(2)
    print(s.recv(100).decode().strip(), flush=True)


def session(ip, port):
    s = socket.create_connection((ip, int(port)), timeout=2)
    print("connected", flush=True)
    for line in sys.stdin:
        s.settimeout(2)
        try:
            s.sendall(line.encode())
            got = s.recv(100)
            print("ok" if got == line.encode() else "bad", flush=True)
        except OSError:
            print("timeout", flush=True)


def sniff(iface, seconds):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    s.bind((iface, 0))
    s.settimeout(0.2)
    print("ready", flush=True)
    end = time.time() + float(seconds)
    while time.time() < end:
        try:
            f = s.recv(2048)
        except socket.timeout:
            continue
        kind = struct.unpack("!H", f[12:14])[0]
        if kind == 0x0800:
            ihl = (f[14] & 15) * 4
            dport = struct.unpack("!H", f[14 + ihl + 2 : 14 + ihl + 4])[0]
            src, dst = socket.inet_ntoa(f[26:30]), socket.inet_ntoa(f[30:34])
            print("ip", src, dst, f[23], dport, flush=True)
        elif kind == 0x0806:
            print("arp", socket.inet_ntoa(f[28:32]), socket.inet_ntoa(f[38:42]), flush=True)


def send(iface, kind, src_mac, src_ip, dst_mac, dst_ip, dport="9"):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    sip, dip = socket.inet_aton(src_ip), socket.inet_aton(dst_ip)
    if kind == "arp":
        body = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac(src_mac) + sip + b"\0" * 6 + dip
        frame = mac("ff:ff:ff:ff:ff:ff") + mac(src_mac) + b"\x08\x06" + body
    else:
        payload = b"probe"
        udp = struct.pack("!HHHH", 40000, int(dport), 8 + len(payload), 0) + payload
        pseudo = sip + dip + struct.pack("!BBH", 0, 17, len(udp))
        udp = udp[:6] + struct.pack("!H", csum(pseudo + udp) or 0xFFFF) + udp[8:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, sip, dip)
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        frame = mac(dst_mac) + mac(src_mac) + b"\x08\x00" + ip + udp
    s.send(frame)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"serve": lambda: serve(args), "connect": lambda: connect(*args), "session": lambda: session(*args),
     "whoami": lambda: whoami(*args), "ask": lambda: ask(*args),
     "sniff": lambda: sniff(*args), "send": lambda: send(*args)}[cmd]()
