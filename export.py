"""Export a trained run's rollout to NWB: ``python export.py config=spatial_navigation/noisy_unbiased seed=0
out=recording.nwb``.

The checkout's spelling of ``reactivation export`` (reactivation/commands/export.py, which documents it).
"""

from reactivation.commands.export import main

if __name__ == "__main__":
    main()
