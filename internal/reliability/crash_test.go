package reliability

const childEnv = "LEASELOCK_RELIABILITY_CHILD"

func childMain(mode string) int { return 2 }
