#!/usr/bin/env python3
"""The IntelMQ anchor for scripts/bench/feeds: one IntelMQ 3.5 parser, in library mode
(in-process, no Redis), on one generated file; prints one JSON line with its events per
CPU-second. Usage: INTELMQ_ROOT_DIR=... intelmq_anchor.py smb|feodo|urlhaus FILE"""
import base64
import json
import sys
import time

from intelmq.lib.bot import BotLibSettings
from intelmq.lib.message import Report

kind, path = sys.argv[1], sys.argv[2]
if kind == "smb":
    from intelmq.bots.parsers.shadowserver.parser import ShadowserverParserBot as Parser
    # IntelMQ 3.5 ships one schema offline, for tests; its SMB report is this layout.
    params = {"feedname": "Test-Accessible-SMB", "auto_update": False}
elif kind == "feodo":
    from intelmq.bots.parsers.abusech.parser_feodotracker import AbusechFeodoTrackerParserBot as Parser
    params = {}
else:
    from intelmq.bots.parsers.generic.parser_csv import GenericCsvParserBot as Parser
    # The URLhaus entry of IntelMQ's feeds.yaml.
    params = {"delimiter": ",", "skip_header": False, "default_url_protocol": "http://",
              "type_translation": {"malware_download": "malware-distribution"},
              "columns": ["time.source", "source.url", "status", "classification.type|__IGNORE__",
                          "source.fqdn|__IGNORE__", "source.ip", "source.asn", "source.geolocation.cc"]}

settings = dict(BotLibSettings, logging_level="ERROR")
bot = Parser(f"anchor-{kind}", settings=settings | params)
with open(path, "rb") as f:
    data = f.read()
report = Report({"feed.name": f"anchor-{kind}", "raw": base64.b64encode(data).decode(),
                 "time.observation": "2024-11-29T00:00:00+00:00"}, harmonization=bot.harmonization)
wall, cpu = time.perf_counter(), time.process_time()
result = bot.process_message(report)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
events = len(result["output"])
print(json.dumps({"engine": "intelmq-3.5.0", "input": path.rsplit("/", 1)[-1], "events": events,
                  "errors": len(result.get("error", [])), "seconds": round(wall, 3),
                  "cpu_seconds": round(cpu, 2), "events_per_cpu_s": round(events / cpu)}))
