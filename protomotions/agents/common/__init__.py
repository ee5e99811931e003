"""Building blocks shared by agents: observation normalisation and MLPs."""
