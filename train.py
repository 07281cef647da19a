"""Train a network: ``python train.py config=spatial_navigation/noisy_unbiased seed=0``.

The checkout's spelling of ``reactivation train`` (reactivation/commands/train.py, which documents it).
"""

from reactivation.commands.train import main

if __name__ == "__main__":
    main()
