"""The display layer: what model text looks like on screen, shared by magics and widgets.

``_render`` turns untrusted model text into safe HTML and display bundles (answer,
thinking block, stats line); ``_throttle`` limits updates to N a second with a trailing
flush; ``_units`` writes byte counts for people. Nothing here talks to a server.
"""
