"""Nipype interfaces: every step of the mrsisr pipeline as a reusable node."""
