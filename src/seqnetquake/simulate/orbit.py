"""Orbit geometry of the virtual satellites: SGP4 propagation to geodetic tracks, half-orbits.

What is real here: CSES flies its real two-line element set (NORAD 43194, epoch 2019-11-18);
DEMETER flies mean elements built from its published orbit (SIMULATOR-NOTES): circular,
710 km until the December 2005 lowering, then 660 km, sun-synchronous, ascending node at
22:30 LT. Both are propagated with ``sgp4`` (vectorised ``sgp4_array``), rotated from TEME to
Earth-fixed by GMST (IAU 1982; UT1 = UTC and polar motion ignored: metres, not kilometres) and
converted to WGS84 geodetic coordinates.

Drag is switched off (``bstar = 0``) for both: the real spacecraft hold their altitude by
manoeuvres, while SGP4 drag run backwards from the TLE epoch would raise CSES by tens of km. Far
from the TLE epoch the along-track phase is therefore not the real one, but the altitude,
inclination and local-time geometry are.

Magnetic latitude comes from a centred tilted dipole whose axis is set by the IGRF-13
first-degree Gauss coefficients (read from the copy PyIRI ships) at the date; invariant latitude
from the dipole L-shell, ``cos^2(inv_lat) = (R_E / r) cos^2(mlat)``. The dipole errs by a few
degrees from apex coordinates (most over the South Atlantic), which is enough for a coverage
limit and for latitude-shaped physics; it is documented in docs/simulator.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from sgp4.api import WGS72, Satrec

from seqnetquake.contracts import NS_PER_DAY, NS_PER_S

UNIX_EPOCH_JD = 2_440_587.5
SGP4_EPOCH = np.datetime64("1949-12-31T00:00:00", "ns")  # sgp4init epochs count days from here

# WGS72 is what SGP4 element sets are defined in; WGS84 for the geodetic conversion.
MU_WGS72_KM3_S2 = 398_600.8
RE_WGS72_KM = 6378.135
J2_WGS72 = 0.001082616
WGS84_A_KM = 6378.137
WGS84_F = 1.0 / 298.257223563
MEAN_EARTH_RADIUS_KM = 6371.2  # IGRF reference radius, for the dipole L-shell
TROPICAL_YEAR_DAYS = 365.2422


@dataclass(frozen=True)
class Orbit:
    """One propagatable element set and how its orbits are numbered.

    ``first_node_ns`` is an ascending-node time near the epoch that carries orbit number
    ``first_orbit``; with drag off the nodal period is constant, so any node's number follows
    from its time (see :func:`orbit_numbers`).
    """

    satrec: Satrec
    first_node_ns: int
    first_orbit: int
    nodal_period_s: float


@dataclass
class Track:
    """Samples along the orbit: times and where the satellite was (all arrays of one length)."""

    time_ns: np.ndarray  # int64 ns since 1970-01-01 UTC
    lat: np.ndarray  # geodetic latitude, deg
    lon: np.ndarray  # deg in [-180, 180)
    alt_km: np.ndarray  # above the WGS84 ellipsoid
    z_km: np.ndarray  # TEME z: its sign change is a node
    vz_km_s: np.ndarray  # TEME z velocity: > 0 on the ascending (northbound) half

    def take(self, index: np.ndarray) -> Track:
        return Track(*(getattr(self, f)[index] for f in self.__dataclass_fields__))


# --------------------------------------------------------------------------- time helpers
def to_ns(value: dt.date | dt.datetime | np.datetime64) -> int:
    """UTC date/datetime to int64 ns since the Unix epoch."""
    return int(np.datetime64(value, "ns").astype(np.int64))


def julian_date(time_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(whole-ish JD, day fraction) pairs, split so that float64 keeps sub-ms precision."""
    days, rem_ns = np.divmod(np.asarray(time_ns, dtype=np.int64), NS_PER_DAY)
    return UNIX_EPOCH_JD + days.astype(np.float64), rem_ns.astype(np.float64) / NS_PER_DAY


def gmst_rad(time_ns: np.ndarray) -> np.ndarray:
    """Greenwich mean sidereal time (IAU 1982), UT1 taken as UTC."""
    jd, fr = julian_date(time_ns)
    t_cent = ((jd - 2_451_545.0) + fr) / 36_525.0
    seconds = (
        67_310.54841
        + (876_600.0 * 3600.0 + 8_640_184.812866) * t_cent
        + 0.093104 * t_cent**2
        - 6.2e-6 * t_cent**3
    )
    return np.radians(np.mod(seconds, 86_400.0) / 240.0)


def local_time_h(time_ns: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Mean solar local time, hours in [0, 24): the definition the tracks stage uses too."""
    ut_h = np.mod(np.asarray(time_ns, dtype=np.int64), NS_PER_DAY) / (3600.0 * NS_PER_S)
    return np.mod(ut_h + np.asarray(lon_deg) / 15.0, 24.0)


def mean_sun_ra_deg(time_ns: int) -> float:
    """Right ascension of the fictitious mean Sun: the reference of mean local time."""
    days_j2000 = (time_ns - to_ns(dt.datetime(2000, 1, 1, 12))) / NS_PER_DAY
    return float(np.mod(280.46061837 + 0.98564736629 * days_j2000, 360.0))


# --------------------------------------------------------------------------- propagation
def _teme_to_geodetic(
    r_km: np.ndarray, time_ns: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TEME position -> WGS84 geodetic lat, lon (deg) and altitude (km) by GMST rotation."""
    theta = gmst_rad(time_ns)
    cos_t, sin_t = np.cos(theta), np.sin(theta)
    x = cos_t * r_km[:, 0] + sin_t * r_km[:, 1]
    y = -sin_t * r_km[:, 0] + cos_t * r_km[:, 1]
    z = r_km[:, 2]
    e2 = WGS84_F * (2.0 - WGS84_F)
    p = np.hypot(x, y)
    lat = np.arctan2(z, p * (1.0 - e2))
    for _ in range(4):  # converges to < 1 mm at LEO heights
        sin_lat = np.sin(lat)
        n = WGS84_A_KM / np.sqrt(1.0 - e2 * sin_lat**2)
        alt = p / np.cos(lat) - n
        lat = np.arctan2(z, p * (1.0 - e2 * n / (n + alt)))
    lon = np.mod(np.degrees(np.arctan2(y, x)) + 180.0, 360.0) - 180.0
    return np.degrees(lat), lon, alt


def propagate(orbit: Orbit | Satrec, time_ns: np.ndarray) -> Track:
    """Positions at the given times (vectorised SGP4)."""
    satrec = orbit.satrec if isinstance(orbit, Orbit) else orbit
    time_ns = np.asarray(time_ns, dtype=np.int64)
    jd, fr = julian_date(time_ns)
    err, r_km, v_km_s = satrec.sgp4_array(jd, fr)
    if np.any(err):
        raise RuntimeError(f"SGP4 error codes {sorted(set(err[err != 0].tolist()))}")
    lat, lon, alt = _teme_to_geodetic(r_km, time_ns)
    return Track(time_ns, lat, lon, alt, r_km[:, 2].copy(), v_km_s[:, 2].copy())


def find_nodes(trk: Track, start_ns: int, end_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """Equator crossings in [start, end): (index of the sample before each, node time ns).

    The crossing time is interpolated linearly in TEME z between the two samples around it.
    """
    i = np.flatnonzero(np.sign(trk.z_km[1:]) != np.sign(trk.z_km[:-1]))
    frac = -trk.z_km[i] / (trk.z_km[i + 1] - trk.z_km[i])
    node_ns = trk.time_ns[i] + (frac * (trk.time_ns[i + 1] - trk.time_ns[i])).astype(np.int64)
    keep = (node_ns >= start_ns) & (node_ns < end_ns)
    return i[keep], node_ns[keep]


def half_orbit_index(trk: Track) -> np.ndarray:
    """A counter that steps at every latitude extreme (sign change of the z velocity)."""
    flips = np.sign(trk.vz_km_s[1:]) != np.sign(trk.vz_km_s[:-1])
    return np.concatenate([[0], np.cumsum(flips)])


def ascending_nodes_ns(orbit: Orbit | Satrec, start_ns: int, end_ns: int, step_s: float = 20.0):
    """Ascending-node times in [start, end)."""
    step_ns = int(step_s * NS_PER_S)
    trk = propagate(orbit, np.arange(start_ns, end_ns + step_ns, step_ns))
    i, node_ns = find_nodes(trk, start_ns, end_ns)
    return node_ns[trk.z_km[i] < 0]


def _numbered(satrec: Satrec, epoch_ns: int, first_orbit: int) -> Orbit:
    """Attach the orbit numbering: first ascending node after the epoch = ``first_orbit``."""
    nodes = ascending_nodes_ns(satrec, epoch_ns, epoch_ns + 10 * NS_PER_DAY)
    period_s = float((nodes[-1] - nodes[0]) / (len(nodes) - 1) / NS_PER_S)
    return Orbit(satrec, int(nodes[0]), first_orbit, period_s)


def orbit_numbers(orbit: Orbit, node_ns: np.ndarray, ascending: np.ndarray) -> np.ndarray:
    """Orbit number of each node: counts ascending nodes since the reference node.

    An orbit starts at its ascending node, so a descending node (half a period after it)
    belongs to the same orbit: ``floor(x + 0.25)`` maps x ~ k (ascending) and x ~ k + 0.5
    (descending) both to k, robust to the seconds of short-period jitter.
    """
    x = (np.asarray(node_ns) - orbit.first_node_ns) / (orbit.nodal_period_s * NS_PER_S)
    k = np.floor(x + 0.25).astype(np.int64)
    bad = np.abs(x - k - np.where(ascending, 0.0, 0.5)) > 0.1
    if np.any(bad):
        raise RuntimeError("node times drift from the nodal period; orbit numbering unsafe")
    return orbit.first_orbit + k


# --------------------------------------------------------------------------- the two missions
def read_tle(path: str | Path) -> tuple[str, str]:
    lines = [ln.rstrip() for ln in Path(path).read_text().splitlines() if ln.strip()]
    l1 = next(ln for ln in lines if ln.startswith("1 "))
    l2 = next(ln for ln in lines if ln.startswith("2 "))
    return l1, l2


def cses_orbit(tle_path: str | Path) -> Orbit:
    """CSES from its real TLE, re-initialised with drag off (CSES holds its orbit)."""
    l1, l2 = read_tle(tle_path)
    tle = Satrec.twoline2rv(l1, l2, WGS72)
    sat = Satrec()
    sat.sgp4init(
        WGS72,
        "i",
        tle.satnum,
        tle.jdsatepoch + tle.jdsatepochF - 2_433_281.5,
        0.0,
        0.0,
        0.0,
        tle.ecco,
        tle.argpo,
        tle.inclo,
        tle.mo,
        tle.no_kozai,
        tle.nodeo,
    )
    epoch_ns = int(round((tle.jdsatepoch - UNIX_EPOCH_JD + tle.jdsatepochF) * NS_PER_DAY))
    rev_at_epoch = int(l2[63:68])  # TLE revolution number at epoch (columns 64-68)
    return _numbered(sat, epoch_ns, rev_at_epoch + 1)


def sun_synchronous_inclination_deg(altitude_km: float) -> float:
    """Inclination whose J2 nodal precession follows the mean Sun (circular orbit)."""
    a_km = MEAN_EARTH_RADIUS_KM + altitude_km  # altitude = mean height above the ellipsoid
    rate_rad_s = 2.0 * np.pi / (TROPICAL_YEAR_DAYS * 86_400.0)
    cos_i = (
        -2.0 * rate_rad_s * a_km**3.5 / (3.0 * J2_WGS72 * RE_WGS72_KM**2 * np.sqrt(MU_WGS72_KM3_S2))
    )
    return float(np.degrees(np.arccos(cos_i)))


def _circular_satrec(epoch_ns: int, altitude_km: float, inclination_deg: float, raan_deg: float):
    a_km = MEAN_EARTH_RADIUS_KM + altitude_km  # altitude = mean height above the ellipsoid
    n_rad_min = np.sqrt(MU_WGS72_KM3_S2 / a_km**3) * 60.0
    epoch_days = (epoch_ns - int(SGP4_EPOCH.astype(np.int64))) / NS_PER_DAY
    sat = Satrec()
    # e = 1e-4: exactly circular elements leave the perigee undefined in SGP4.
    sat.sgp4init(
        WGS72,
        "i",
        29_035,
        epoch_days,
        0.0,
        0.0,
        0.0,
        1e-4,
        0.0,
        np.radians(inclination_deg),
        0.0,
        n_rad_min,
        np.radians(raan_deg),
    )
    return sat


def _node_lt_drift_h_per_day(sat: Satrec, epoch_ns: int) -> float:
    nodes = ascending_nodes_ns(sat, epoch_ns, epoch_ns + 60 * NS_PER_DAY, step_s=30.0)
    lon = propagate(sat, nodes).lon
    lt = np.unwrap(local_time_h(nodes, lon) * (2 * np.pi / 24.0)) * (24.0 / (2 * np.pi))
    return float(np.polyfit((nodes - nodes[0]) / NS_PER_DAY, lt, 1)[0])


@lru_cache(maxsize=8)
def sun_synchronous_orbit(
    epoch_ns: int, altitude_km: float, ltan_h: float, first_orbit: int
) -> Orbit:
    """A circular sun-synchronous orbit whose ascending node is at ``ltan_h`` local time.

    The inclination starts from the J2 condition (98.23 deg at 710 km, 98.03 deg at 660 km)
    and is then tuned so that SGP4's own nodal precession (J2 and J4) follows the mean Sun:
    the node local time then holds for years, as the real spacecraft's did.
    """
    raan_deg = mean_sun_ra_deg(epoch_ns) + (ltan_h - 12.0) * 15.0
    inc = sun_synchronous_inclination_deg(altitude_km)
    for _ in range(2):
        sat = _circular_satrec(epoch_ns, altitude_km, inc, raan_deg)
        drift_deg_day = 15.0 * _node_lt_drift_h_per_day(sat, epoch_ns)
        sun_deg_day = 360.0 / TROPICAL_YEAR_DAYS
        node_rate = sun_deg_day + drift_deg_day
        # d(node rate)/di = -node_rate * tan(i): Newton step on the inclination
        inc += np.degrees(drift_deg_day / (node_rate * np.tan(np.radians(inc))))
    sat = _circular_satrec(epoch_ns, altitude_km, inc, raan_deg)
    return _numbered(sat, epoch_ns, first_orbit)


def demeter_orbit(
    when_ns: int,
    launch: dt.date,
    lowered_on: dt.date,
    altitude_km: float,
    lowered_altitude_km: float,
    ltan_h: float,
) -> Orbit:
    """DEMETER's element set in force at ``when_ns`` (one per altitude phase).

    Each phase starts its elements at the phase's first midnight, so a given day always gets
    the same track whatever period is simulated. Orbit 1 starts after launch; the lowered phase
    continues the count with the first phase's nodal period (an estimate: the real manoeuvre
    dates within December 2005 are not in SIMULATOR-NOTES).
    """
    launch_ns, lowered_ns = to_ns(launch), to_ns(lowered_on)
    first = sun_synchronous_orbit(launch_ns, altitude_km, ltan_h, 1)
    if when_ns < lowered_ns:
        return first
    orbits_before = int((lowered_ns - first.first_node_ns) / (first.nodal_period_s * NS_PER_S))
    return sun_synchronous_orbit(lowered_ns, lowered_altitude_km, ltan_h, orbits_before + 2)


# --------------------------------------------------------------------------- magnetic geometry
@lru_cache(maxsize=64)
def dipole_pole_deg(decimal_year: float) -> tuple[float, float]:
    """Geographic (lat, lon) of the geomagnetic north pole from IGRF-13 g10, g11, h11."""
    import PyIRI  # deferred: heavy (0.5 s); only its coefficient folder is read

    path = Path(PyIRI.coeff_dir) / "IGRF" / "IGRF13.shc"
    rows = [ln.split() for ln in path.read_text().splitlines() if not ln.startswith("#")]
    years = np.array(rows[1], dtype=float)  # rows[0] is the header line of the .shc format
    coeffs = {(int(r[0]), int(r[1])): np.array(r[2:], dtype=float) for r in rows[2:5]}
    # 1900..2025 every 5 years (2025 is the IGRF-13 prediction); linear in between
    g10, g11, h11 = (
        np.interp(decimal_year, years, coeffs[key]) for key in ((1, 0), (1, 1), (1, -1))
    )
    b0 = np.sqrt(g10**2 + g11**2 + h11**2)
    lat = 90.0 - np.degrees(np.arccos(-g10 / b0))
    lon = np.degrees(np.arctan2(-h11, -g11))
    return float(lat), float(lon)


def decimal_year(time_ns: int) -> float:
    t = np.datetime64(int(time_ns), "ns").astype("datetime64[s]").item()
    start = dt.datetime(t.year, 1, 1)
    return (
        t.year
        + (t - start).total_seconds() / (dt.datetime(t.year + 1, 1, 1) - start).total_seconds()
    )


def magnetic_latitude(lat_deg: np.ndarray, lon_deg: np.ndarray, pole: tuple[float, float]):
    """Centred-dipole magnetic latitude, deg (geodetic latitude used as geocentric: < 0.2 deg)."""
    plat, plon = np.radians(pole[0]), np.radians(pole[1])
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    s = np.sin(lat) * np.sin(plat) + np.cos(lat) * np.cos(plat) * np.cos(lon - plon)
    return np.degrees(np.arcsin(np.clip(s, -1.0, 1.0)))


def invariant_latitude(mlat_deg: np.ndarray, alt_km: np.ndarray) -> np.ndarray:
    """Dipole invariant latitude: the footprint latitude of the field line through the point."""
    ratio = MEAN_EARTH_RADIUS_KM / (MEAN_EARTH_RADIUS_KM + np.asarray(alt_km))
    cos_inv = np.cos(np.radians(mlat_deg)) * np.sqrt(ratio)
    return np.copysign(np.degrees(np.arccos(np.clip(cos_inv, -1.0, 1.0))), mlat_deg)
