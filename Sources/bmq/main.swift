print("bmq")
