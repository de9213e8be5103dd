"""Data and training for the audio performance mapper, reproducible on a CPU.

Role in the LPM design: the mapper is trained here, on speech our own scripts synthesise
(``espeak`` via libespeak-ng, ``corpus``: voices, languages, rates and augmentation), with motion
targets built from exact phoneme timing (``targets``), by ``train`` (flow matching), and measured
by ``evaluate`` on a held-out split.
"""
