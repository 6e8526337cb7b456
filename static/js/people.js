// The lists of people in the room's state (see state.js), by id, never mutated: every change
// makes new arrays, so applying a frame twice changes nothing.

export const isMe = (state, person) => Boolean(person && state.me && person.id === state.me.id);

export const without = (list, id) => list.filter((p) => p.id !== id);

export function upsert(list, person) {
  const at = list.findIndex((p) => p.id === person.id);
  if (at === -1) return [...list, person];
  const copy = list.slice();
  copy[at] = person;
  return copy;
}

// Put a person where their role and presence say: on the stage, among the listeners, or nowhere.
// Someone already listed keeps their place in the list, so applying a frame twice changes nothing.
export function place(state, person) {
  const onStage = person.role !== "listener";
  const listed = !onStage && person.present;
  let hands = state.hands;
  if (hands !== null) {
    const inQueue = person.hand_raised && person.present && !onStage;
    hands = inQueue ? upsert(hands, person) : without(hands, person.id);
  }
  // Janus says when someone starts and stops talking, but not always when they are muted.
  const mayTalk = onStage && person.present && !person.muted && !person.self_muted;
  return {
    ...withSpeaking(state, person.id, mayTalk && state.speaking.includes(person.id)),
    stage: onStage ? upsert(state.stage, person) : without(state.stage, person.id),
    listeners: listed ? upsert(state.listeners, person) : without(state.listeners, person.id),
    hands,
    me: isMe(state, person) ? person : state.me,
  };
}

/** Whether someone is talking now (from `speaking` frames, or this page's own mic). */
export function withSpeaking(state, id, talking) {
  if (state.speaking.includes(id) === talking) return state;
  const others = state.speaking.filter((x) => x !== id);
  return { ...state, speaking: talking ? [...others, id] : others };
}

export function drop(state, person) {
  const hands = state.hands === null ? null : without(state.hands, person.id);
  const [stage, listeners] = [without(state.stage, person.id), without(state.listeners, person.id)];
  return { ...state, stage, listeners, hands, speaking: state.speaking.filter((id) => id !== person.id) };
}
