"""Readers of metabolite maps and their quality measures (no Nipype, no torch).

* :mod:`mrsisr.io.lcmodel` — LCModel CSI output as maps (``read_csi``, ``read_csi_volume``),
  re-exporting the single-file parsers of :mod:`mrsisr.io.lcmodel_text` (``read_table``,
  ``read_spreadsheet``, ``read_control_file``);
* :mod:`mrsisr.io.fslmrs` — FSL-MRS ``fsl_mrsi`` output folders (FWHM Hz -> ppm);
* :mod:`mrsisr.io.nifti` — NIfTI map sets in MRSIPrep naming, checked map reading/writing;
* :mod:`mrsisr.io.names` — alias resolution (``tCho`` = ``GPC+PCh`` = ``Cho`` ...);
* :mod:`mrsisr.io.geometry` — the MRSI grid and LCModel's row/column convention;
* :mod:`mrsisr.io.formats` — the registry of fitting-output formats (detector, reader per format);
* :mod:`mrsisr.io.niftimrs` — the raw MRSI in BIDS ``mrs/`` (NIfTI-MRS): grid, frequency, ``find_bids_mrsi``;
* :mod:`mrsisr.io.lcmodel_grid` — LCModel's recorded grid (``ndrows``...), checks, spreadsheets by content;
* :mod:`mrsisr.io.discovery` — finding one subject's output and its grid (BIDS ``mrs/``, ``geometry.json``);
* :mod:`mrsisr.io.preflight` — what is checked before any map is read (shared by loader and inspection);
* :mod:`mrsisr.io.inspect` — ``inspect_fitting_output``: what a subject will get, from headers and names;
* :mod:`mrsisr.io.loader` — ``load_metabolite_maps``, the pure function behind
  :class:`mrsisr.interfaces.maps.LoadMetaboliteMaps`;
* :mod:`mrsisr.io.labels` — the one BIDS label cleaner (`clean_label`, `fullmatch`);
* :mod:`mrsisr.io.errors` — the exceptions (all :class:`ValueError` subclasses).
"""
