"""A binary slice mask → closed planar polygons that readers turn back into the same mask.

The polygons are contourpy's marching-squares iso-lines of the zero-padded mask at level
:data:`CONTOUR_LEVEL` = 0.6 (pixel values 1 inside, 0 outside, linear between pixel centres). Every line is closed
(the padding), lines never cross, and every pixel centre lies strictly on one side of them, so:

- **even-odd on pixel centres** (a centre is inside when a ray from it crosses the slice's contours an odd number of
  times; 3D Slicer, matplotlib ``Path``, the project's reader) gives back the mask exactly: the contours of a slice
  bound the set {value > level}, whose pixel centres are exactly the foreground pixels. Holes and islands in holes
  are separate contours; nothing marks them as holes, the even-odd rule does.
- **round to the nearest pixel, fill inclusive of the outline** (rt-utils, OpenCV ``fillPoly``) also gives it back:
  each vertex lies on a grid edge 1 − level = 0.4 px from a foreground pixel centre, so it rounds onto that
  boundary pixel, and the rounded polygon is the pixel-centre outline that ``cv2.findContours`` would draw.

Any level in (0.5, 1) has both properties; the classic 0.5 does not have the second (vertices at half pixels round
either way). 0.6 keeps the enclosed area within 0.1 px × perimeter of the voxel area (the TPS shows a volume close to
the mask's) with a 0.1 px margin against rounding error (coordinates are written to 0.1 µm).
"""

from __future__ import annotations

import contourpy
import numpy as np

__all__ = ["CONTOUR_LEVEL", "mask_to_polygons"]

CONTOUR_LEVEL = 0.6


def _drop_collinear(points: np.ndarray) -> np.ndarray:
    """The same closed polygon with repeated points and points in the middle of a straight run removed."""
    previous = points - np.roll(points, 1, axis=0)
    following = np.roll(points, -1, axis=0) - points
    cross = previous[:, 0] * following[:, 1] - previous[:, 1] * following[:, 0]
    same_direction = (previous * following).sum(axis=1) > 0
    keep = ~((np.abs(cross) < 1e-9) & same_direction) & (np.abs(previous).sum(axis=1) > 1e-12)
    return points[keep]


def mask_to_polygons(mask: np.ndarray) -> list[np.ndarray]:
    """Closed polygons ``[n, 2]`` in (row, column) pixel coordinates (first point not repeated), one per outline.

    Outer outlines and hole outlines alike; a reader applying the even-odd rule (or rounding and filling) restores
    ``mask``. An empty mask gives no polygons.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask_to_polygons needs a 2D mask, got shape {mask.shape}")
    if not mask.any():
        return []
    padded = np.pad(mask.astype(np.float64) > 0, 1).astype(np.float64)
    generator = contourpy.contour_generator(z=padded, name="serial", line_type=contourpy.LineType.Separate)
    polygons = []
    for line in generator.lines(CONTOUR_LEVEL):
        line = np.asarray(line, dtype=np.float64)
        if len(line) > 1 and np.array_equal(line[0], line[-1]):
            line = line[:-1]
        points = _drop_collinear(line[:, ::-1] - 1.0)  # contourpy gives (x = column, y = row) of the padded grid
        if len(points) >= 3:
            polygons.append(points)
    return polygons
