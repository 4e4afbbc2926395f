#pragma once
// Rotated non-maximum suppression with exact BEV IoU (core bev_iou), pre-filtered by an axis-aligned bound.
#include <span>
#include <vector>

#include "v2x/core/box.hpp"

namespace v2x::detection {

// Greedy NMS as OpenCOOD box_utils.nms_rotated: boxes sorted by descending score (stable: ties keep input
// order), only the first `top_k` are considered (OpenCOOD: 1000; <= 0 = all); a box is suppressed when its
// BEV IoU with a kept box is > iou_threshold (strict). Returns indices into `boxes`, highest score first.
// Boxes with non-finite fields or scores are dropped.
std::vector<int> nms_rotated(std::span<const Box3D> boxes, std::span<const float> scores, double iou_threshold,
                             int top_k = 1000);

// Upper bound of bev_iou(a, b) from the boxes' axis-aligned BEV rectangles (0 when they do not overlap).
double bev_iou_upper_bound(const Box3D& a, const Box3D& b);

}  // namespace v2x::detection
