#!/usr/bin/env python3
"""Synthetic, format-correct feed files for the throughput benchmark (BENCHMARKS.md).

Usage: gen_feeds.py OUTDIR [N]    (N lines per file, default 100000)

Writes the three inputs the IntelMQ anchor is measured on, in the same layouts:
  smb.csv      Shadowserver "Accessible SMB" (scan_smb) CSV, quoted header;
  feodo.json   abuse.ch Feodo Tracker ipblocklist.json (one array);
  urlhaus.csv  abuse.ch URLhaus per-country CSV, no header.
Deterministic: the same N gives the same bytes.
"""
import json
import os
import random
import sys

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
rng = random.Random(20130105)
countries = ["CN", "US", "DE", "RU", "BR", "IN", "FR", "KR", "JP", "NL"]


def address():
    # Public-looking unicast: skip 0, 10, 127, 169, 172, 192 and multicast.
    while True:
        first = rng.randint(1, 223)
        if first not in (10, 127, 169, 172, 192):
            return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "smb.csv"), "w") as f:
    f.write('"timestamp","ip","port","hostname","tag","asn","geo","region","city","naics","sic",'
            '"smb_implant","arch","key","smbv1_support","smb_major_number","smb_minor_number",'
            '"smb_revision","smb_version_string"\n')
    for i in range(n):
        f.write(f'"2024-05-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}",{address()},445,'
                f'node{i}.example.com,smb,{rng.randint(1, 65000)},{rng.choice(countries)},Region,City,0,0,N,,,N,2,1,0,"SMB 2.1"\n')

families = ["Dridex", "Emotet", "QakBot", "BumbleBee", "Pikabot"]
records = []
for i in range(n):
    records.append({
        "ip_address": address(), "port": rng.choice([443, 447, 449, 4643, 8080]),
        "status": rng.choice(["online", "offline"]), "hostname": f"h{i}.example.net" if i % 3 == 0 else None,
        "as_number": rng.randint(1, 65000), "as_name": "EXAMPLE-AS", "country": rng.choice(countries),
        "first_seen": f"2024-0{1 + i % 9}-{1 + i % 28:02d} 07:44:46", "last_online": "2024-11-15",
        "malware": rng.choice(families),
    })
with open(os.path.join(out, "feodo.json"), "w") as f:
    json.dump(records, f)

with open(os.path.join(out, "urlhaus.csv"), "w") as f:
    for i in range(n):
        host = address()
        f.write(f'"2024-06-{1 + i % 28:02d} 12:{i % 60:02d}:{(i * 13) % 60:02d}","http://{host}:{8000 + i % 1000}/bins/x{i}.sh",'
                f'"online","malware_download","{host}","{host}","{rng.randint(1, 65000)}","{rng.choice(countries)}"\n')
