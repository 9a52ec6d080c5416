"""Optional integrations with other systems (Ray): each imports its library only when used."""
