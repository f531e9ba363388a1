"""What marketers shape: the programme's settings, stores, earn rules, tiers,
rewards, offers and coupons."""
