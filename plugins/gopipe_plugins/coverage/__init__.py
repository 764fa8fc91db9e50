"""Coverage providers: summary, threshold gate, Cobertura XML and HTML from the profile."""
