"""Synthetic abdominal CT phantom with kidney/tumor labels: the project's built-in dataset.

It lets every command run offline on a fresh clone and gives tests data with known truth. Anatomy is simplified
but keeps what a kidney segmenter has to learn: an elliptical body with a subcutaneous fat layer, a vertebra,
aorta/IVC (bright like renal cortex, so brightness alone is not enough), liver, bowel gas, and two bean-shaped
kidneys with bright cortex around darker medulla inside perirenal fat; lobulated tumors that enhance less than
cortex; smooth tissue texture, partial-volume blur and correlated noise.

Anatomy is drawn in millimetres at the spacing written to the affine, so physical resampling (``--spacing``)
sees true sizes: a kidney is as many mm across in every case. The in-plane field of view is drawn per case
between 326 and 374 mm (3.4-3.9 mm per pixel on the default 96 squared grid), so every case shows a whole abdomen
whatever its voxel count; the slice distance is one of 2.5, 3 or 5 mm. Organ lengths along z are set relative to
the stack, so a short stack still holds whole kidneys. Each case has its own random stream keyed by (seed, case
index).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy.ndimage import gaussian_filter

from ..io import atomic_create
from .errors import DataError

__all__ = ["make_phantom_case", "write_phantom_dataset"]

logger = logging.getLogger(__name__)

_FOV_RANGE_MM = (326.0, 374.0)  # in-plane field of view across the larger axis, drawn per case
_SLICE_SPACINGS = (2.5, 3.0, 5.0)
_TUMOR_FREE_SHARE = 0.3

BACKGROUND, KIDNEY, TUMOR = 0, 1, 2


@dataclass(frozen=True)
class _Grid:
    """Voxel-centre coordinates (mm) from the volume's centre, RAS: +x patient right, +y anterior, +z superior."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    slice_mm: float

    @classmethod
    def for_shape(cls, shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> "_Grid":
        (nx, ny, nz), (sx, sy, sz) = shape, spacing
        x = (np.arange(nx) + 0.5 - nx / 2) * sx
        y = (np.arange(ny) + 0.5 - ny / 2) * sy
        z = (np.arange(nz) + 0.5 - nz / 2) * sz
        return cls(x[:, None, None], y[None, :, None], z[None, None, :], float(sz))


def _ellipse(grid: _Grid, cx: float, cy: float, ax: float, ay: float) -> np.ndarray:
    """Normalised elliptic radius in-plane (< 1 inside), constant along z."""
    return np.sqrt(((grid.x - cx) / ax) ** 2 + ((grid.y - cy) / ay) ** 2)


def _smooth_field(rng: np.random.Generator, shape: tuple[int, ...], sigma: tuple[float, ...]) -> np.ndarray:
    """Unit-variance, spatially correlated Gaussian field (tissue texture, correlated CT noise)."""
    field = gaussian_filter(rng.standard_normal(shape), sigma=sigma, mode="reflect")
    return field / max(float(field.std()), 1e-12)


class _CaseDrawer:
    """Paints one case: HU volume and label volume, drawn back to front so later organs overwrite earlier."""

    def __init__(self, shape: tuple[int, int, int], spacing: tuple[float, float, float], rng: np.random.Generator,
                 with_tumor: bool) -> None:
        self.shape = shape
        self.rng = rng
        self.with_tumor = with_tumor
        self.grid = _Grid.for_shape(shape, spacing)
        self.hu = np.full(shape, -1000.0)
        self.label = np.zeros(shape, dtype=np.uint8)
        self.inside = np.zeros(shape, dtype=bool)

    def draw(self) -> tuple[np.ndarray, np.ndarray]:
        self._body()
        self._liver()
        self._bowel()
        self._spine_and_vessels()
        kidneys = [self._kidney(side) for side in (+1, -1)]
        if self.with_tumor:
            hosts = [0, 1] if self.rng.random() < 0.15 else [int(self.rng.integers(2))]
            for host in hosts:
                self._tumor(*kidneys[host])
        return self._finish()

    def _u(self, low: float, high: float) -> float:
        return float(self.rng.uniform(low, high))

    def _body(self) -> None:
        g, u = self.grid, self._u
        ax, ay, cy = u(140, 160), u(100, 118), u(0, 10)
        body = _ellipse(g, 0.0, cy, ax, ay) < 1.0
        body = np.broadcast_to(body, self.shape)
        fat = u(12, 22)
        muscle_wall = _ellipse(g, 0.0, cy, ax - fat, ay - fat) < 1.0
        viscera = _ellipse(g, 0.0, cy, ax - fat - 8, ay - fat - 8) < 1.0
        texture = 8.0 * _smooth_field(self.rng, self.shape, (4.0, 4.0, 1.5))
        self.hu[body] = -100.0 + u(-10, 10)
        self.hu[np.broadcast_to(muscle_wall, self.shape)] = 50.0  # abdominal wall / back muscles
        inner = np.broadcast_to(viscera, self.shape)
        self.hu[inner] = 40.0 + u(-5, 5) + texture[inner]
        self.inside = body.copy()

    def _liver(self) -> None:
        g, u = self.grid, self._u
        nz = self.shape[2]
        top = (nz / 2) * g.slice_mm
        extent = u(0.35, 0.55) * nz * g.slice_mm  # liver covers the upper part of the stack
        taper = np.clip((g.z - (top - extent)) / (0.3 * extent), 0.0, 1.0)  # 0 below, 1 in the upper part
        r = _ellipse(g, u(55, 75), u(5, 25), u(60, 75), u(50, 65)) / np.maximum(taper, 1e-3)
        liver = (r < 1.0) & self.inside
        self.hu[liver] = u(80, 100) + 6.0 * _smooth_field(self.rng, self.shape, (3.0, 3.0, 1.0))[liver]

    def _bowel(self) -> None:
        g, u = self.grid, self._u
        for _ in range(int(self.rng.integers(3, 7))):
            cx, cy, r_mm, cz = u(-90, 90), u(20, 80), u(6, 16), u(-60, 60)
            extent = u(10, 40)
            loop = (np.sqrt((g.x - cx) ** 2 + (g.y - cy) ** 2) < r_mm) & (np.abs(g.z - cz) < extent) & self.inside
            if self.rng.random() < 0.7:
                self.hu[loop] = u(-950, -700)  # gas
            else:
                self.hu[loop] = u(90, 130)  # bowel wall/content with oral contrast

    def _spine_and_vessels(self) -> None:
        g, u = self.grid, self._u
        vy = u(-70, -60)
        body_r = u(18, 22)
        vertebra = np.sqrt(g.x**2 + (g.y - vy) ** 2)
        self.hu[np.broadcast_to(vertebra < body_r, self.shape)] = u(650, 750)  # cortical rim
        self.hu[np.broadcast_to(vertebra < body_r - 3.5, self.shape)] = u(380, 460)  # cancellous bone
        canal_y = vy - body_r - 6.0
        self.hu[np.broadcast_to(np.sqrt(g.x**2 + (g.y - canal_y) ** 2) < 7.0, self.shape)] = 15.0
        process = _ellipse(g, 0.0, canal_y - 16.0, 6.0, 10.0) < 1.0
        self.hu[np.broadcast_to(process, self.shape)] = u(500, 650)
        aorta = np.sqrt((g.x + u(12, 18)) ** 2 + (g.y - (vy + body_r + 12)) ** 2) < u(9, 12)
        self.hu[np.broadcast_to(aorta, self.shape)] = u(170, 230)
        ivc = _ellipse(g, u(18, 26), vy + body_r + 10, u(9, 12), u(7, 9)) < 1.0
        self.hu[np.broadcast_to(ivc, self.shape)] = u(100, 140)

    def _kidney(self, side: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Bean-shaped kidney on ``side`` (+1 right, -1 left); returns its centre, axes and side for tumors."""
        g, u = self.grid, self._u
        nz = self.shape[2]
        z_half = nz * g.slice_mm / 2
        centre = np.array([side * u(60, 72), u(-46, -36), u(-0.25, 0.2) * z_half - (8.0 if side > 0 else 0.0)])
        axes = np.array([u(28, 34), u(21, 26), u(0.45, 0.6) * z_half])
        angle = np.deg2rad(side * u(20, 35))  # hilum turns antero-medially
        dx, dy, dz = g.x - centre[0], g.y - centre[1], g.z - centre[2]
        along = np.cos(angle) * dx + np.sin(angle) * dy
        across = -np.sin(angle) * dx + np.cos(angle) * dy
        r = np.sqrt((along / axes[0]) ** 2 + (across / axes[1]) ** 2 + (dz / axes[2]) ** 2)
        # Hilum: a notch on the medial side (towards the spine), filled with renal sinus fat.
        medial = -side * along
        notch = np.sqrt(((medial - axes[0]) / (0.55 * axes[0])) ** 2 + (across / (0.35 * axes[1])) ** 2
                        + (dz / (0.45 * axes[2])) ** 2) < 1.0
        kidney = (r < 1.0) & ~notch & self.inside
        perirenal = (r < 1.0 + 8.0 / axes[0]) & ~kidney & self.inside & (self.hu > -200) & (self.hu < 90)
        self.hu[perirenal] = u(-100, -80)
        self.hu[notch & (r < 1.0) & self.inside] = u(-70, -40)
        cortex_hu, medulla_hu = u(140, 170), u(25, 40)
        self.hu[kidney] = np.where(r[kidney] > u(0.62, 0.7), cortex_hu, medulla_hu)
        self.label[kidney] = KIDNEY
        return centre, axes, side

    def _tumor(self, centre: np.ndarray, axes: np.ndarray, side: int) -> None:
        """Lobulated tumor (union of spheres) growing from the kidney, sometimes bulging out of it."""
        g, u = self.grid, self._u
        direction = self.rng.standard_normal(3)
        direction[0] = abs(direction[0]) * side  # lateral half, away from the hilum
        direction /= np.linalg.norm(direction)
        depth = u(0.3, 0.9)
        seed_point = centre + direction * axes * depth
        radius = u(8, 24)
        lobes = [(seed_point, radius)]
        for _ in range(int(self.rng.integers(1, 4))):
            offset = self.rng.standard_normal(3)
            offset *= u(0.4, 0.8) * radius / np.linalg.norm(offset)
            lobes.append((seed_point + offset, u(0.4, 0.75) * radius))
        tumor = np.zeros(self.shape, dtype=bool)
        for (cx, cy, cz), r_mm in lobes:
            tumor |= (g.x - cx) ** 2 + (g.y - cy) ** 2 + (g.z - cz) ** 2 < r_mm**2
        tumor &= self.inside & (self.hu < 300)  # never overwrite bone
        if not tumor.any():
            return
        base = u(55, 80)
        texture = 10.0 * _smooth_field(self.rng, self.shape, (1.5, 1.5, 0.7))
        self.hu[tumor] = base + texture[tumor]
        if radius > 16:  # large tumors get a darker necrotic core
            cx, cy, cz = seed_point
            core = tumor & ((g.x - cx) ** 2 + (g.y - cy) ** 2 + (g.z - cz) ** 2 < (0.45 * radius) ** 2)
            self.hu[core] = u(15, 30) + texture[core] * 0.5
        self.label[tumor] = TUMOR

    def _finish(self) -> tuple[np.ndarray, np.ndarray]:
        """Partial-volume blur, correlated noise, integer HU."""
        hu = gaussian_filter(self.hu, sigma=(0.7, 0.7, 0.3), mode="nearest")
        noise_sd = self._u(10, 20)
        hu += noise_sd * _smooth_field(self.rng, self.shape, (0.6, 0.6, 0.0))
        hu = np.clip(np.rint(hu), -1024, 3071).astype(np.int16)
        return hu, self.label


def _affine(shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> np.ndarray:
    """RAS affine centred on the volume."""
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = -(np.asarray(shape) - 1) / 2 * np.asarray(spacing)
    return affine


def _save(array: np.ndarray, affine: np.ndarray, path: Path) -> None:
    img = nib.Nifti1Image(array, affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    img.header.set_xyzt_units("mm", "sec")
    atomic_create(path, lambda tmp: nib.save(img, str(tmp)))


def make_phantom_case(
    index: int, seed: int = 0, shape: tuple[int, int, int] = (96, 96, 32), with_tumor: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One phantom case as (int16 HU image, uint8 label, RAS affine), all on the RAS grid."""
    rng = np.random.default_rng([int(seed), int(index)])
    in_plane = round(float(rng.uniform(*_FOV_RANGE_MM)) / max(shape[0], shape[1]), 3)
    spacing = (in_plane, in_plane, float(rng.choice(_SLICE_SPACINGS)))
    image, label = _CaseDrawer(shape, spacing, rng, with_tumor).draw()
    return image, label, _affine(shape, spacing)


def _tumor_free_cases(cases: int, seed: int) -> set[int]:
    """Which cases get no tumor: about 30%, at least one whenever there are 2 or more cases."""
    if cases < 2:
        return set()
    count = min(cases - 1, max(1, round(cases * _TUMOR_FREE_SHARE)))
    rng = np.random.default_rng([int(seed), 2**31])  # separate from the per-case streams
    return {int(i) for i in rng.choice(cases, size=count, replace=False)}


def write_phantom_dataset(
    out: str | Path, cases: int = 12, seed: int = 0, shape: tuple[int, int, int] = (96, 96, 32)
) -> list[Path]:
    """Write ``cases`` phantom cases in KiTS layout under ``out``; return the case folders in order.

    Each ``case_XXXXX`` gets ``imaging.nii.gz`` (int16 HU) and ``segmentation.nii.gz`` (uint8: 0 background,
    1 kidney, 2 tumor). The same seed gives identical arrays.
    """
    dims = tuple(int(s) for s in shape)
    if len(dims) != 3 or min(dims) < 8:
        raise DataError(f"--shape: expected three sizes of at least 8 voxels, got {dims}")
    grid_shape = (dims[0], dims[1], dims[2])
    if cases < 1:
        raise DataError(f"--cases: need at least 1 case, got {cases}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tumor_free = _tumor_free_cases(cases, seed)
    folders = []
    for index in range(cases):
        image, label, affine = make_phantom_case(index, seed, grid_shape, with_tumor=index not in tumor_free)
        folder = out / f"case_{index:05d}"
        folder.mkdir(exist_ok=True)
        _save(image, affine, folder / "imaging.nii.gz")
        _save(label, affine, folder / "segmentation.nii.gz")
        folders.append(folder)
    logger.info("wrote %d phantom cases (seed %d, shape %s) to %s, %d tumor-free",
                cases, seed, grid_shape, out, len(tumor_free))
    return folders
