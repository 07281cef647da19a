"""The paper-scale evidence: the store of finished networks (:mod:`.store`), the campaign that fills it
(:mod:`.campaign`) and the page rebuilt from it (:mod:`.page`). docs/campaign.md describes all three."""
