"""Advance the paper-scale campaign: ``python campaign.py budget=2h``.

The checkout's spelling of ``reactivation campaign`` (reactivation/commands/campaign.py, which documents it).
"""

from reactivation.commands.campaign import main

if __name__ == "__main__":
    main()
