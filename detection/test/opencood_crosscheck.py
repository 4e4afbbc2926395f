#!/usr/bin/env python3
"""Recompute AP from a v2x dump (--dump FILE.jsonl) with OpenCOOD's OWN eval functions, for cross-checking.

Usage: python3 opencood_crosscheck.py OPENCOOD/opencood/utils/eval_utils.py DUMP.jsonl
Needs numpy + shapely (Debian: python3-numpy python3-shapely). Not a CTest (CI has neither).
voc_ap / caluclate_tp_fp / calculate_ap are loaded from the given OpenCOOD file at run time (nothing copied);
common_utils' three helpers they call are re-stated below (BEV corners -> shapely polygons, float32 IoU).
Each mode gets a fresh copy of the stats: OpenCOOD's calculate_ap turns the tp/fp lists into cumulative sums
in place, so calling it twice on one result_stat gives garbage (docs/evaluation.md, quirk 7).
"""
import ast
import copy
import json
import math
import sys
import types

import numpy as np
from shapely.geometry import Polygon


def load_eval(path):
    tree = ast.parse(open(path).read())
    body = [n for n in tree.body
            if isinstance(n, ast.FunctionDef) and n.name in ('voc_ap', 'caluclate_tp_fp', 'calculate_ap')]
    cu = types.SimpleNamespace(
        torch_tensor_to_numpy=lambda x: x,
        convert_format=lambda a: np.array([Polygon([(b[i, 0], b[i, 1]) for i in range(4)]) for b in a]),
        compute_iou=lambda box, boxes: np.array(
            [box.intersection(b).area / box.union(b).area for b in boxes], dtype=np.float32))
    ns = {'np': np, 'common_utils': cu}
    exec(compile(ast.Module(body=body, type_ignores=[]), path, 'exec'), ns)
    return ns


def bev_corners(b):
    x, y, l, w, yaw = b[0], b[1], b[3], b[4], b[6]
    c, s = math.cos(yaw), math.sin(yaw)
    return [(x + c * dx - s * dy, y + s * dx + c * dy)
            for dx, dy in ((l / 2, w / 2), (-l / 2, w / 2), (-l / 2, -w / 2), (l / 2, -w / 2))]


def main():
    ns = load_eval(sys.argv[1])
    stat = {t: {'tp': [], 'fp': [], 'gt': 0, 'score': []} for t in (0.3, 0.5, 0.7)}
    for line in open(sys.argv[2]):
        if not line.strip():
            continue
        r = json.loads(line)
        det = np.array([bev_corners(d) for d in r['detections']]).reshape(-1, 4, 2)
        score = np.array([d[7] for d in r['detections']], dtype=np.float32)
        gt = np.array([bev_corners(g) for g in r['gt']]).reshape(-1, 4, 2)
        for t in stat:
            ns['caluclate_tp_fp'](det if len(det) else None, score, gt, stat, t)
    for t in stat:
        ap, _, _ = ns['calculate_ap'](copy.deepcopy(stat), t, False)
        ap_g, _, _ = ns['calculate_ap'](copy.deepcopy(stat), t, True)
        print('%.1f default %.12f global_sort %.12f' % (t, ap, ap_g))


if __name__ == '__main__':
    main()
