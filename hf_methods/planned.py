"""Records of the methods that have not landed yet, in paper order.

When a method lands, its record moves from here into its own folder, `hf_methods/<kind>/<slug>/method.py` (with its
entry points and Auto classes filled in), and leaves this file; the catalogue (`hf_methods.zoo`) refuses a slug that
is in both places. The entry points below are the names the method is planned to export.
"""

from hf_methods.record import Method

PLANNED = ()
