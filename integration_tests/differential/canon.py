"""The corpus's canonical form (testdata/conformance/README.md), one place.

Vertex ids become the natural key they were minted for, ``key#n`` for the
n-th id minted for the key (every mint counts, for dropped events too);
``vitrage_id`` and ``vitrage_resource_id`` props follow. The digest is
testdata/workload/digest.py's.
"""
import hashlib
import json


def names_from_mints(mints):
    """[(id, key)] in mint order -> {id: canonical name}."""
    count = {}
    names = {}
    for uid, key in mints:
        count[key] = count.get(key, 0) + 1
        names[uid] = key if count[key] == 1 else "%s#%d" % (key, count[key])
    return names


def canonical(lines, names):
    """Graph lines (workload layout) -> canonical lines, sorted."""
    def c(x):
        return names.get(x, x)
    out = []
    for rec in lines:
        if "id" in rec:
            p = dict(rec["props"])
            if "vitrage_id" in p:
                p["vitrage_id"] = c(p["vitrage_id"])
            if isinstance(p.get("vitrage_resource_id"), str):
                p["vitrage_resource_id"] = c(p["vitrage_resource_id"])
            out.append({"id": c(rec["id"]), "props": p})
        else:
            out.append({"source": c(rec["source"]), "target": c(rec["target"]),
                        "label": rec["label"], "props": rec["props"]})
    return out


def digest(lines):
    """digest.py's SHA-256 over vertices by id, then edges."""
    h = hashlib.sha256()
    vs = sorted((r for r in lines if "id" in r), key=lambda r: r["id"])
    es = sorted((r for r in lines if "id" not in r),
                key=lambda r: (r["source"], r["target"], r["label"]))
    for v in vs:
        h.update(json.dumps([v["id"], v["props"]], sort_keys=True).encode())
    for e in es:
        h.update(json.dumps([e["source"], e["target"], e["label"],
                             e["props"]], sort_keys=True).encode())
    return h.hexdigest()


def text_lines(lines):
    return sorted(json.dumps(r, sort_keys=True) for r in lines)
