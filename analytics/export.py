"""The CSV export: one row per sample, then the totals, for a spreadsheet."""

import csv
import io

from .selectors import Report

SAMPLE_HEADER = ["at", "seconds_since_start", "listeners", "reactions_so_far"]


def totals(report: Report) -> list[tuple[str, object]]:
    return [
        ("peak_listeners", report.peak),
        ("unique_listeners", report.unique),
        ("listener_seconds", round(report.listener_seconds)),
        ("average_listening_seconds", round(report.average_listening_seconds, 1)),
        ("speakers", report.speakers),
        ("reactions", report.reactions),
        ("replay_plays", report.replay_plays),
        ("clip_plays", report.clip_plays),
    ]


def report_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SAMPLE_HEADER)
    start = report.first_at
    for sample in report.samples:
        elapsed = (sample.at - start).total_seconds() if start else 0
        writer.writerow([sample.at.isoformat(), round(elapsed, 1), sample.listeners, sample.reactions])
    writer.writerow([])
    writer.writerow(["total", "value"])
    writer.writerows(totals(report))
    return out.getvalue()
