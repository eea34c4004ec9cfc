"""Nipype workflow builders (``init_*_wf``) chaining :mod:`mrsisr.interfaces`."""
