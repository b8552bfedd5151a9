"""exvc-bench: exvc against rate-matched x264, x265, SVT-AV1 and VVC, scored alike.

Layers: ``clips`` loads the sources; ``anchors`` and ``exvc_codec`` encode and decode them;
``metrics``, ``stlpips``, ``vmaf`` and ``fid`` score the decodes; ``bd`` computes Bjøntegaard
deltas; ``run`` drives a whole benchmark and ``report`` writes JSON, Markdown and plots;
``cli`` is the command. It sits beside the exvc CLI and uses the library below it.
"""
