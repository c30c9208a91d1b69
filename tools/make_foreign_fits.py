#!/usr/bin/python3
"""Writes small FITS files with astropy (a writer other than CFITSIO) into tests/data/foreign/,
plus expected.json with the values the C++ reader must reproduce (pixel sums, NaN counts, beams,
and sky<->pixel pairs computed by astropy.wcs). Run by hand with Debian's /usr/bin/python3; the
outputs are committed, so CI never runs Python.

    /usr/bin/python3 tools/make_foreign_fits.py
"""
import json
import os
import warnings

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "foreign")
W, H = 32, 24
rng = np.random.default_rng(20240607)


def sky_header(h, ctype=("RA---SIN", "DEC--SIN"), crval=(150.1, 2.2), cdelt=1.5 / 3600):
    h["CTYPE1"], h["CTYPE2"] = ctype
    h["CRVAL1"], h["CRVAL2"] = crval
    h["CRPIX1"], h["CRPIX2"] = 16.0, 12.5
    h["CDELT1"], h["CDELT2"] = -cdelt, cdelt
    h["CUNIT1"], h["CUNIT2"] = "deg", "deg"


def expected_pixels(physical):
    """Statistics over finite pixels of the float32 image the reader must return."""
    f = physical.astype(np.float32)
    finite = np.isfinite(f)
    return {
        "shape": [int(f.shape[-2]), int(f.shape[-1])],
        "nan_count": int((~finite).sum()),
        "sum": float(f[finite].astype(np.float64).sum()),
        "min": float(f[finite].min()),
        "max": float(f[finite].max()),
        "pixels": [[x, y, (None if not np.isfinite(f.reshape(-1, H, W)[0, y, x])
                           else float(f.reshape(-1, H, W)[0, y, x]))]
                   for x, y in [(0, 0), (5, 3), (31, 23), (17, 11)]],
    }


def sky_pairs(header):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        w = WCS(header).celestial
    pairs = []
    for x, y in [(0.0, 0.0), (15.0, 11.5), (31.0, 23.0), (7.25, 19.5)]:
        lon, lat = w.all_pix2world([[x, y]], 0)[0]
        pairs.append({"x": x, "y": y, "lon": float(lon), "lat": float(lat)})
    return pairs


def main():
    os.makedirs(OUT, exist_ok=True)
    expected = {}

    # 1. A radio map as CASA/AIPS write it: NAXIS = 4 [W, H, 1, 1], FREQ and STOKES axes,
    #    float32 with a NaN border, BMAJ/BMIN/BPA and an upper-case BUNIT.
    data = rng.normal(0.0, 1e-4, size=(1, 1, H, W)).astype(np.float32)
    data[..., :, :2] = np.nan
    data[..., -1, :] = np.nan
    data[0, 0, 12, 16] = 0.05
    hdu = fits.PrimaryHDU(data)
    h = hdu.header
    sky_header(h)
    h["CTYPE3"], h["CRVAL3"], h["CDELT3"], h["CRPIX3"], h["CUNIT3"] = "FREQ", 1.4e9, 1e6, 1.0, "Hz"
    h["CTYPE4"], h["CRVAL4"], h["CDELT4"], h["CRPIX4"] = "STOKES", 1.0, 1.0, 1.0
    h["BUNIT"] = "JY/BEAM"
    h["BMAJ"], h["BMIN"], h["BPA"] = 1.5e-3, 1.2e-3, 35.0
    h["RADESYS"], h["EQUINOX"] = "FK5", 2000.0
    hdu.writeto(os.path.join(OUT, "radio_naxis4.fits"), overwrite=True)
    e = expected_pixels(data)
    e.update(bunit="JY/BEAM", beam_deg=[1.5e-3, 1.2e-3, 35.0], hdu=0, sky=sky_pairs(h))
    expected["radio_naxis4.fits"] = e

    # 2. BITPIX 16 with BSCALE/BZERO and BLANK, NAXIS = 2 but axis-3 keywords (as FIRST cutouts
    #    have), legacy EPOCH instead of EQUINOX, the beam only in an AIPS HISTORY card.
    raw = rng.integers(-20000, 20000, size=(H, W)).astype(np.int16)
    raw[0, :] = -32768
    raw[5, 7] = -32768
    bscale, bzero = 2.5e-5, 0.125
    hdu = fits.PrimaryHDU(raw)
    h = hdu.header
    h["BSCALE"], h["BZERO"], h["BLANK"] = bscale, bzero, -32768
    sky_header(h, ctype=("RA---TAN", "DEC--TAN"), crval=(10.5, -30.25))
    h["CTYPE3"], h["CRVAL3"], h["CRPIX3"], h["CDELT3"] = "FREQ", 1.4e9, 1.0, 1e6
    h["EPOCH"] = 2000.0
    h["BUNIT"] = "JY/BEAM"
    h.add_history("AIPS   CLEAN BMAJ=  1.0000E-03 BMIN=  5.0000E-04 BPA=  10.00")
    h.add_history("AIPS   CLEAN BMAJ=  1.3889E-03 BMIN=  1.1111E-03 BPA= -45.00")
    hdu.writeto(os.path.join(OUT, "blank_int16.fits"), overwrite=True, output_verify="silentfix")
    physical = raw.astype(np.float64) * bscale + bzero
    physical[raw == -32768] = np.nan
    e = expected_pixels(physical)
    e.update(bunit="JY/BEAM", beam_deg=[1.3889e-3, 1.1111e-3, -45.0], hdu=0, sky=sky_pairs(h))
    expected["blank_int16.fits"] = e

    # 3. Empty primary, a binary table, then the image in an extension named SCI (float64,
    #    galactic CAR).
    img = rng.normal(5.0, 2.0, size=(H, W))
    img[3:6, 10:14] = np.nan
    table = fits.BinTableHDU.from_columns(
        [fits.Column(name="flux", format="E", array=np.arange(3, dtype=np.float32))], name="CAT")
    ext = fits.ImageHDU(img, name="SCI")
    sky_header(ext.header, ctype=("GLON-CAR", "GLAT-CAR"), crval=(30.0, 0.5), cdelt=2.0 / 3600)
    ext.header["BUNIT"] = "K"
    fits.HDUList([fits.PrimaryHDU(), table, ext]).writeto(
        os.path.join(OUT, "image_in_extension.fits"), overwrite=True)
    e = expected_pixels(img)
    e.update(bunit="K", beam_deg=None, hdu=2, extname="SCI", sky=sky_pairs(ext.header))
    expected["image_in_extension.fits"] = e

    # 4. Random groups (UV-FITS visibilities): refused. (Table-only files come from the C++
    #    fixture, keeping these committed files small.)
    pdata = np.zeros((3, 2), dtype=np.float32)
    gdata = fits.GroupData(np.zeros((3, 1, 1, 1, 3), dtype=np.float32), parnames=["UU", "VV"],
                           pardata=[pdata[:, 0], pdata[:, 1]], bitpix=-32)
    fits.GroupsHDU(gdata).writeto(os.path.join(OUT, "random_groups.fits"), overwrite=True)

    # 5. An image saved from a channels-last numpy array, shape (H, W, 1): astropy writes it as
    #    NAXIS = 3 [1, W, H], so the image axes are the 2nd and 3rd; the sky WCS is on them too.
    data = rng.normal(0.0, 1.0, size=(H, W, 1)).astype(np.float32)
    data[2, 3, 0] = np.nan
    hdu = fits.PrimaryHDU(data)
    h = hdu.header
    h["CTYPE2"], h["CTYPE3"] = "RA---SIN", "DEC--SIN"
    h["CRVAL2"], h["CRVAL3"] = 200.5, -45.0
    h["CRPIX2"], h["CRPIX3"] = 16.0, 12.5
    h["CDELT2"], h["CDELT3"] = -2.0 / 3600, 2.0 / 3600
    h["CUNIT2"], h["CUNIT3"] = "deg", "deg"
    h["BUNIT"] = "Jy/beam"
    hdu.writeto(os.path.join(OUT, "channels_last.fits"), overwrite=True)
    e = expected_pixels(data[:, :, 0])
    e.update(bunit="Jy/beam", beam_deg=None, hdu=0, sky=sky_pairs(h))
    expected["channels_last.fits"] = e

    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
