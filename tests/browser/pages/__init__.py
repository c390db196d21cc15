"""Page objects: one per screen, locators by role and French label (never CSS classes)."""
