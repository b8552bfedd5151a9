"""The ffmpeg-style command line, on top of everything else."""
