import { Capability, a } from "pepr";

export const Validation = new Capability({
  name: "validation",
  description: "Rejects bad PureLB configuration at kubectl apply",
});

Validation.When(a.Service).IsCreatedOrUpdated().Validate(req => req.Approve());
