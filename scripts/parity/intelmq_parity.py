#!/usr/bin/env python3
"""Runs IntelMQ's parsers (library mode, no Redis) on Vedette's golden fixtures and
compares the key fields with what `vedette parse` prints for the same file.

Usage: INTELMQ_ROOT_DIR=... intelmq_parity.py VEDETTE_BINARY FIXTURE_ROOT

Events are paired by their identity (the address, network, URL, domain or AS they are
about); for each pair every key field either side sets is compared. A difference listed
in KNOWN (with its reason, mirrored in PARITY.md) is reported but does not fail the run;
any other difference, or an event only one side produced, fails it.

IntelMQ is AGPL: this script runs it as a separate program, it copies nothing from it.
"""
import base64
import collections
import importlib
import json
import os
import subprocess
import sys

KEY_FIELDS = [
    "time.source", "classification.type", "classification.identifier",
    "source.ip", "source.port", "source.network", "source.fqdn", "source.url", "source.asn",
    "source.as_name", "source.geolocation.cc", "source.abuse_contact",
    "destination.ip", "destination.port", "destination.fqdn",
    "malware.name", "malware.hash.md5", "protocol.application", "status",
]

# (vedette feed, fixture, IntelMQ bot class, bot parameters, feed.url given to IntelMQ)
CASES = [
    ("abusech-feodo", "json-export", "intelmq.bots.parsers.abusech.parser_feodotracker.AbusechFeodoTrackerParserBot", {}, "https://feodotracker.abuse.ch/downloads/ipblocklist.json"),
    ("abusech-urlhaus", "country-csv", "intelmq.bots.parsers.generic.parser_csv.GenericCsvParserBot",
     {"skip_header": False, "default_url_protocol": "http://", "delimiter": ",",
      "type_translation": {"malware_download": "malware-distribution"},
      "columns": ["time.source", "source.url", "status", "classification.type|__IGNORE__",
                  "source.fqdn|__IGNORE__", "source.ip", "source.asn", "source.geolocation.cc"]},
     "https://urlhaus.abuse.ch/feeds/country/CN/"),
    ("spamhaus-drop", "drop-legacy-text", "intelmq.bots.parsers.spamhaus.parser_drop.SpamhausDropParserBot", {}, "https://www.spamhaus.org/drop/drop.txt"),
    ("spamhaus-edrop", "edrop-legacy-text", "intelmq.bots.parsers.spamhaus.parser_drop.SpamhausDropParserBot", {}, "https://www.spamhaus.org/drop/edrop.txt"),
    ("shadowserver", "2024-05-01-scan_smb-cn", "intelmq.bots.parsers.shadowserver.parser.ShadowserverParserBot",
     {"feedname": "Test-Accessible-SMB", "auto_update": False}, "https://www.shadowserver.org/"),
    ("cymru-cap", "cap-report", "intelmq.bots.parsers.cymru.parser_cap_program.CymruCAPProgramParserBot", {}, "https://www.team-cymru.com/"),
    ("bambenek-c2", "c2-ipmasterlist", "intelmq.bots.parsers.bambenek.parser.BambenekParserBot", {}, "https://osint.bambenekconsulting.com/feeds/c2-ipmasterlist.txt"),
    ("bambenek-c2", "c2-dommasterlist", "intelmq.bots.parsers.bambenek.parser.BambenekParserBot", {}, "https://osint.bambenekconsulting.com/feeds/c2-dommasterlist.txt"),
    ("blocklistde", "ssh", "intelmq.bots.parsers.blocklistde.parser.BlockListDEParserBot", {}, "https://lists.blocklist.de/lists/ssh.txt"),
    ("blocklistde", "all", "intelmq.bots.parsers.blocklistde.parser.BlockListDEParserBot", {}, "https://lists.blocklist.de/lists/all.txt"),
    ("dataplane", "sshpwauth", "intelmq.bots.parsers.dataplane.parser.DataplaneParserBot", {}, "https://dataplane.org/sshpwauth.txt"),
    ("dshield-block", "block", "intelmq.bots.parsers.dshield.parser_block.DshieldBlockParserBot", {}, "https://dshield.org/block.txt"),
    ("microsoft-ctip", "azure", "intelmq.bots.parsers.microsoft.parser_ctip.MicrosoftCTIPParserBot", {}, "https://example.invalid/ctip"),
    ("zoneh", "defacements", "intelmq.bots.parsers.zoneh.parser.ZoneHParserBot", {}, "https://zone-h.org/"),
    ("openphish", "feed", "intelmq.bots.parsers.openphish.parser.OpenPhishParserBot", {}, "https://openphish.com/feed.txt"),
    ("phishtank", "online-valid-json", "intelmq.bots.parsers.phishtank.parser.PhishTankParserBot", {}, "https://data.phishtank.com/data/online-valid.json"),
    ("intelmq-json", "clean-handover", "intelmq.bots.parsers.json.parser.JSONParserBot", {"splitlines": True}, "file:///events.json"),
]

# Differences understood and accepted: (feed, field) -> reason. Keep in step with PARITY.md.
KNOWN = {
    ("spamhaus-drop", "time.source"): "IntelMQ dates every DROP entry with the list's Last-Modified comment; Vedette leaves time.source unset (the list does not say when an entry was seen)",
    ("spamhaus-edrop", "time.source"): "as spamhaus-drop",
    ("shadowserver", "classification.identifier"): "IntelMQ 3.5 ships only a test schema (identifier test-smb); Vedette uses Shadowserver's report name accessible-smb",
    ("shadowserver", "protocol.application"): "as above: the test schema's constants",
    ("cymru-cap", "classification.identifier"): "Vedette keeps the CAP category as identifier when the table sets none; IntelMQ leaves it unset for bot/controller",
    ("cymru-cap", "malware.name"): "IntelMQ splits the optional information (mwtype …) into fields; Vedette keeps it whole in extra.information",
    ("cymru-cap", "destination.ip"): "as above (destaddr in the optional information)",
    ("cymru-cap", "source.as_name"): "IntelMQ cuts the country suffix off the AS name",
    ("bambenek-c2", "malware.name"): "IntelMQ takes the malware from the manual URL's file name (cl -> cryptolocker map); Vedette from the description",
    ("dshield-block", "time.source"): "IntelMQ dates entries with the list's `updated` comment; Vedette leaves time.source unset",
    ("dataplane", "classification.identifier"): "Vedette keeps the category as identifier; IntelMQ sets none",
    ("dataplane", "source.as_name"): "IntelMQ cuts the AS name at its comma (`EXAMPLE-AS,`); Vedette keeps the whole name",

    ("zoneh", "protocol.application"): "IntelMQ sets the URL scheme as application; Vedette does not",
    ("blocklistde", "classification.identifier"): "Vedette names the list (ssh, mail, blacklisted-ip, …) as identifier; IntelMQ sets none",
}


# Records one side reads and the other refuses: (feed, identity value) -> reason.
KNOWN_ONLY = {
    ("abusech-feodo", "198.51.100.78"): "port 70000: Vedette refuses a port above 65535, IntelMQ's Integer type accepts it",
    ("abusech-urlhaus", "203.0.113.5"): "AS number 0: IntelMQ refuses the whole row, Vedette reads 0 as 'unknown' and drops only the AS (as IntelMQ's Shadowserver parser does)",
    ("cymru-cap", "198.51.100.60"): "IntelMQ 3.5's old-format CAP parser fails on this row's optional information; Vedette keeps it whole in extra.information",
    ("cymru-cap", "198.51.100.62"): "IntelMQ refuses the unknown optional-information key `port`; Vedette keeps it in extra.information",
    ("bambenek-c2", "bad domain!"): "Vedette refuses a domain with a space and `!`; IntelMQ's FQDN check lets it through",
}


def identity(e):
    for k in ("source.ip", "source.network", "source.url", "source.fqdn", "source.asn"):
        if e.get(k) not in (None, ""):
            return (k, str(e[k]))
    return ("none", "")


def norm(field, value):
    if value is None:
        return None
    if field == "time.source":
        return str(value).replace("Z", "+00:00")
    if field in ("source.port", "destination.port", "source.asn"):
        try:
            return int(value)
        except (TypeError, ValueError):
            return value
    if field == "malware.name":
        return str(value).lower()
    return str(value)


def run_intelmq(cls_path, params, feed_url, data):
    from intelmq.lib.bot import BotLibSettings
    from intelmq.lib.message import Report
    module, name = cls_path.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    settings = dict(BotLibSettings)
    settings["logging_level"] = "CRITICAL"
    bot = cls("parity-" + name.lower(), settings=settings | params)
    report = Report({"feed.name": "parity", "feed.url": feed_url, "raw": base64.b64encode(data).decode(),
                     "time.observation": "2024-11-29T00:00:00+00:00"}, harmonization=bot.harmonization)
    out = bot.process_message(report)
    return [m.to_dict(hierarchical=False) for m in out.get("output", [])], len(out.get("error", []))


def run_vedette(binary, feed, path):
    p = subprocess.run([binary, "parse", "--feed", feed, path], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"vedette parse --feed {feed} {path} failed: {p.stderr.strip()}")
    events = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    rejected = [l for l in p.stderr.splitlines() if l.strip()]
    return events, len(rejected)


def main():
    binary, root = sys.argv[1], sys.argv[2]
    unexpected = 0
    known_seen = collections.OrderedDict()
    print(f"{'feed/fixture':48} {'ours':>5} {'intelmq':>7} {'rej':>4} {'err':>4} {'fields':>6} {'diff':>5}")
    for feed, case, cls, params, url in CASES:
        path = f"{root}/{feed}/{case}.in"
        data = open(path, "rb").read()
        theirs, errors = run_intelmq(cls, params, url, data)
        ours, rejected = run_vedette(binary, feed, path)
        by_id = collections.defaultdict(list)
        for e in theirs:
            by_id[identity(e)].append(e)
        compared = diffs = 0
        problems = []
        for e in ours:
            bucket = by_id.get(identity(e))
            if not bucket:
                reason = KNOWN_ONLY.get((feed, identity(e)[1]))
                if reason:
                    known_seen.setdefault((feed, identity(e)[1]), ("only in vedette: " + reason, ""))
                else:
                    problems.append(f"only in vedette: {identity(e)}")
                continue
            t = bucket.pop(0)
            for f in KEY_FIELDS:
                a, b = norm(f, e.get(f)), norm(f, t.get(f))
                if a is None and b is None:
                    continue
                compared += 1
                if a != b:
                    diffs += 1
                    reason = KNOWN.get((feed, f))
                    if reason:
                        known_seen.setdefault((feed, f), (reason, f"{a!r} vs IntelMQ {b!r}"))
                    else:
                        problems.append(f"{identity(e)[1]}: {f}: vedette {a!r}, intelmq {b!r}")
        for rest in by_id.values():
            for t in rest:
                reason = KNOWN_ONLY.get((feed, identity(t)[1]))
                if reason:
                    known_seen.setdefault((feed, identity(t)[1]), ("only in intelmq: " + reason, ""))
                else:
                    problems.append(f"only in intelmq: {identity(t)}")
        unexpected += len(problems)
        print(f"{feed + '/' + case:48} {len(ours):>5} {len(theirs):>7} {rejected:>4} {errors:>4} {compared:>6} {diffs:>5}")
        for p in problems:
            print(f"    UNEXPECTED {p}")
    if known_seen:
        print("\nknown differences (see PARITY.md):")
        for (feed, f), (reason, example) in known_seen.items():
            print(f"  {feed} {f}" + (f": {example}" if example else "") + f"\n      {reason}")
    print(f"\n{unexpected} unexpected difference(s)")
    return 1 if unexpected else 0


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    # IntelMQ's bots leave non-daemon threads behind in library mode; a plain exit would
    # wait for them for ever.
    os._exit(status)
