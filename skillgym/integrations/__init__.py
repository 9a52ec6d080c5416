"""Optional integrations with other systems (Ray, RLlib): each imports its library only when
used."""
