"""Per-variant figures from the Prometheus samples: what `modelport endpoints show` prints."""

from __future__ import annotations

from typing import Any

Samples = dict[str, list[tuple[dict[str, str], float]]]


def _quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Approximate a quantile from cumulative histogram buckets (upper bound, count)."""
    if not buckets or buckets[-1][1] == 0:
        return None
    total = buckets[-1][1]
    target = q * total
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= target:
            if bound == float("inf"):
                return prev_bound
            span = count - prev_count
            frac = (target - prev_count) / span if span else 1.0
            return prev_bound + (bound - prev_bound) * frac
        prev_bound, prev_count = bound, count
    return prev_bound


def endpoint_stats(samples: Samples, endpoint: str) -> dict[str, Any]:
    variants: dict[str, dict[str, Any]] = {}

    def entry(variant: str) -> dict[str, Any]:
        return variants.setdefault(
            variant, {"requests": 0.0, "errors": 0.0, "rows": 0.0, "by_code": {}, "capture_written": 0.0, "capture_dropped": 0.0}
        )

    for labels, value in samples.get("modelport_invocations_total", []):
        if labels.get("endpoint") == endpoint:
            e = entry(labels["variant"])
            e["requests"] += value
            e["by_code"][labels["code"]] = e["by_code"].get(labels["code"], 0.0) + value
            if labels["code"] != "200":
                e["errors"] += value
    for labels, value in samples.get("modelport_rows_total", []):
        if labels.get("endpoint") == endpoint:
            entry(labels["variant"])["rows"] += value
    latency: dict[str, list[tuple[float, float]]] = {}
    for labels, value in samples.get("modelport_invocation_duration_seconds_bucket", []):
        if labels.get("endpoint") == endpoint:
            latency.setdefault(labels["variant"], []).append((float(labels["le"]), value))
    for variant, buckets in latency.items():
        buckets.sort()
        e = entry(variant)
        p50, p99 = _quantile(buckets, 0.5), _quantile(buckets, 0.99)
        e["p50_ms"] = None if p50 is None else p50 * 1000
        e["p99_ms"] = None if p99 is None else p99 * 1000
    for name, key in (
        ("modelport_shadow_rows_total", "shadow_rows"),
        ("modelport_shadow_label_matches_total", "shadow_label_matches"),
        ("modelport_shadow_abs_diff_total", "shadow_abs_diff_sum"),
        ("modelport_shadow_failures_total", "shadow_failures"),
    ):
        for labels, value in samples.get(name, []):
            if labels.get("endpoint") == endpoint:
                e = entry(labels["variant"])
                e[key] = e.get(key, 0.0) + value
    for labels, value in samples.get("modelport_capture_records_total", []):
        if labels.get("endpoint") == endpoint:
            entry(labels["variant"])[f"capture_{labels['result']}"] += value
    for e in variants.values():
        rows = e.get("shadow_rows")
        if rows:
            if "shadow_label_matches" in e:
                e["shadow_label_agreement"] = e["shadow_label_matches"] / rows
            if "shadow_abs_diff_sum" in e:
                e["shadow_mean_abs_diff"] = e["shadow_abs_diff_sum"] / rows
    return {"endpoint": endpoint, "variants": variants}
